package cmd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
)

// A lease released on a requested stop is logged as info; the same words
// while running, or any other error, stay errors.
func TestLeaseReleasedOnStopIsNoError(t *testing.T) {
	var lines []string
	base := funcr.New(func(prefix, args string) { lines = append(lines, prefix+" "+args) }, funcr.Options{})
	running, stop := context.WithCancel(context.Background())
	l := releaseAwareLogger(base, running).WithName("mgr").WithValues("k", "v")

	l.Error(errors.New(leaseLostErr), afterStopMsg)
	stop()
	l.Error(errors.New(leaseLostErr), afterStopMsg)
	l.Error(errors.New("boom"), afterStopMsg)

	if len(lines) != 3 {
		t.Fatalf("got %d lines: %q", len(lines), lines)
	}
	for i, want := range []string{`"error"`, `"msg"="released the leader lease on the way out"`, `"error"="boom"`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q lacks %s", i, lines[i], want)
		}
	}
	if strings.Contains(lines[1], `"error"`) {
		t.Errorf("a released lease still logged as an error: %s", lines[1])
	}
}
