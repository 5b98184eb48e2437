package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// machineLine describes what makes one machine's figures differ from
// another's beyond its core count: the CPU, whether the kernel isolates
// page tables (every system call, context switch and page fault then
// costs more), and what a first-touch page fault costs here. The pipeline
// runs four processes that talk over sockets and start with fresh memory,
// so it pays these costs far more than the reference tools do: compare
// ratios between machines only where this line agrees.
func machineLine() string {
	return fmt.Sprintf("machine: %d CPUs (%s), page-table isolation %s, first-touch page fault %s",
		runtime.NumCPU(), cpuModel(), pageTableIsolation(), faultCost())
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func pageTableIsolation() string {
	b, err := os.ReadFile("/sys/devices/system/cpu/vulnerabilities/meltdown")
	if err != nil {
		return "unknown"
	}
	if strings.Contains(string(b), "PTI") {
		return "on"
	}
	return "off"
}

// faultCost touches 64 MiB of fresh anonymous memory and divides the
// kernel time it took by its 4 KiB pages (huge pages, where the kernel
// gives them, show as a lower cost).
func faultCost() string {
	const size = 64 << 20
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return "unknown"
	}
	defer func() { _ = syscall.Munmap(mem) }()
	var before, after syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &before) != nil {
		return "unknown"
	}
	for i := 0; i < size; i += 4096 {
		mem[i] = 1
	}
	if syscall.Getrusage(syscall.RUSAGE_SELF, &after) != nil {
		return "unknown"
	}
	sys := time.Duration(after.Stime.Nano() - before.Stime.Nano())
	return fmt.Sprintf("%.1f µs of kernel time a 4 KiB page", float64(sys.Microseconds())/float64(size>>12))
}
