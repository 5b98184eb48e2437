package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
)

// A lease released on a requested stop, and a lease renewal the stop cut
// short (client-go: "Error retrieving lease lock", context canceled), are
// logged as info; the same while running, or any other error, stay errors.
func TestLeaseReleasedOnStopIsNoError(t *testing.T) {
	var lines []string
	base := funcr.New(func(prefix, args string) { lines = append(lines, prefix+" "+args) }, funcr.Options{})
	running, stop := context.WithCancel(context.Background())
	l := releaseAwareLogger(base, running).WithName("mgr").WithValues("k", "v")

	renewCut := fmt.Errorf("get lease: %w", context.Canceled)
	l.Error(errors.New(leaseLostErr), afterStopMsg)
	l.Error(renewCut, "Error retrieving lease lock")
	stop()
	l.Error(errors.New(leaseLostErr), afterStopMsg)
	l.Error(renewCut, "Error retrieving lease lock")
	l.Error(errors.New("boom"), afterStopMsg)

	if len(lines) != 5 {
		t.Fatalf("got %d lines: %q", len(lines), lines)
	}
	for i, want := range []string{`"error"`, `"error"="get lease: context canceled"`, `"msg"="released the leader lease on the way out"`,
		`"msg"="Error retrieving lease lock: cut short by the stop"`, `"error"="boom"`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q lacks %s", i, lines[i], want)
		}
	}
	for _, i := range []int{2, 3} {
		if strings.Contains(lines[i], `"error"`) {
			t.Errorf("line %d logged as an error once stopping: %s", i, lines[i])
		}
	}
}
