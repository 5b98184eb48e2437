package cmd

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sisporta/sisporta/hack/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestManagerStartsAndServesProbes runs `sisporta manager` against a real
// kube-apiserver found through KUBECONFIG, as `make run` does.
func TestManagerStartsAndServesProbes(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	probe, metrics := freePort(t), freePort(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRootCommand()
		root.SetArgs([]string{"manager",
			fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probe),
			fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics),
			"--leader-elect", "--leader-election-namespace=default"})
		done <- root.ExecuteContext(ctx)
	}()

	for _, path := range []string{fmt.Sprintf("http://127.0.0.1:%d/healthz", probe), fmt.Sprintf("http://127.0.0.1:%d/readyz", probe), fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)} {
		if err := waitHTTP200(path, 30*time.Second); err != nil {
			cancel()
			t.Fatalf("%s: %v (manager: %v)", path, err, drain(done))
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("manager returned an error on a clean stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("manager did not stop within 30s of its context ending")
	}
}

func TestManagerWithoutClusterSaysWhatIsMissing(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	root := newRootCommand()
	root.SetArgs([]string{"manager", "--health-probe-bind-address=0", "--metrics-bind-address=0"})
	err := root.ExecuteContext(context.Background())
	if err == nil {
		t.Fatal("manager started without a cluster")
	}
	t.Log(err)
}

func drain(ch <-chan error) error {
	select {
	case err := <-ch:
		return err
	default:
		return nil
	}
}

func waitHTTP200(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return last
}
