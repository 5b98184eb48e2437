// Command pause is the sandbox ("pause") container of the local cluster
// (hack/cluster.sh): nothing can be pulled there, so its image is built
// from this. Like Kubernetes' own pause it holds the pod's namespaces: it
// sleeps until SIGTERM or SIGINT, and as PID 1 of the pod it reaps the
// children that are handed to it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
