package cmd

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile to $SISPORTA_CPUPROFILE.<pid> when that
// variable is set: how `make bench` findings are investigated.
func startProfile() func() {
	path := os.Getenv("SISPORTA_CPUPROFILE")
	if path == "" {
		return nil
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sisporta: cpu profile:", err)
		return nil
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "sisporta: cpu profile:", err)
		_ = f.Close()
		return nil
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
