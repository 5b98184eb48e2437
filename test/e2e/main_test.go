//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sisporta/sisporta/test/testenv"
)

// The images the suite builds and loads into the node: the second is the
// same image re-tagged, for the upgrade.
const (
	image     = "sisporta.local/sisporta:e2e"
	imageNext = "sisporta.local/sisporta:e2e-next"
)

var (
	repo       string
	kubeconfig string
	kubectlBin string
	helmBin    string
	stateDir   string // the cluster's directory: logs/ holds each component's log
	k8s        client.Client

	figuresMu sync.Mutex
	figures   []string
)

// figure records a measurement for the summary printed at the end.
func figure(format string, args ...any) {
	figuresMu.Lock()
	defer figuresMu.Unlock()
	figures = append(figures, fmt.Sprintf(format, args...))
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
		return 1
	}
	if runtime.GOOS != "linux" {
		return fail("needs Linux: the local cluster runs containerd and kubelet on this machine")
	}
	if os.Geteuid() != 0 {
		return fail("must run as root (hack/cluster.sh starts containerd and kubelet, mounts, and creates a bridge); run `sudo make e2e`")
	}
	var err error
	if repo, err = testenv.RepoRoot(); err != nil {
		return fail("%v", err)
	}
	helmBin = os.Getenv("HELM")
	if helmBin == "" {
		helmBin = filepath.Join(repo, "bin", "helm")
	}
	if _, err := os.Stat(helmBin); err != nil {
		return fail("no helm at %s (HELM): run `make e2e`, which builds it", helmBin)
	}

	start := time.Now()
	reused := exec.Command(filepath.Join(repo, "hack", "cluster.sh"), "status").Run() == nil
	out, err := command(os.Stderr, filepath.Join(repo, "hack", "cluster.sh"), "up")
	if err != nil {
		return fail("hack/cluster.sh up: %v", err)
	}
	last := lastLine(out)
	if !strings.HasPrefix(last, "export KUBECONFIG=") {
		return fail("hack/cluster.sh up did not end with export KUBECONFIG=...: %q", last)
	}
	kubeconfig = strings.TrimPrefix(last, "export KUBECONFIG=")
	stateDir = filepath.Dir(kubeconfig)
	kubectlBin = filepath.Join(repo, "bin", "kubectl")
	if reused {
		figure("cluster: reused a running one (%s)", time.Since(start).Round(100*time.Millisecond))
	} else {
		figure("hack/cluster.sh up: %s", time.Since(start).Round(100*time.Millisecond))
	}
	keep := reused || os.Getenv("E2E_KEEP_CLUSTER") != ""
	defer func() {
		if keep {
			fmt.Fprintf(os.Stderr, "e2e: leaving the cluster up (export KUBECONFIG=%s; hack/cluster.sh down stops it)\n", kubeconfig)
			return
		}
		if _, err := command(os.Stderr, filepath.Join(repo, "hack", "cluster.sh"), "down"); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: hack/cluster.sh down: %v\n", err)
		}
	}()

	t0 := time.Now()
	if err := buildAndLoad(image); err != nil {
		return fail("%v", err)
	}
	figure("make image + hack/cluster.sh load: %s", time.Since(t0).Round(100*time.Millisecond))
	// The same binary under a second tag, for the upgrade (make's -o build
	// keeps the binary just built).
	if err := buildAndLoad(imageNext, "-o", "build"); err != nil {
		return fail("%v", err)
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fail("%v", err)
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		return fail("%v", err)
	}

	code := m.Run()
	fmt.Println("\n=== e2e figures")
	for _, f := range figures {
		fmt.Println("  " + f)
	}
	fmt.Printf("  suite: %s in all\n", time.Since(start).Round(time.Second))
	return code
}

// buildAndLoad runs `make image IMG=img` and imports bin/image.tar into the
// node, as a developer would.
func buildAndLoad(img string, makeArgs ...string) error {
	cmd := exec.Command("make", append([]string{"--no-print-directory", "image", "IMG=" + img}, makeArgs...)...)
	cmd.Dir = repo
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "MAKEFLAGS=") || strings.HasPrefix(e, "MFLAGS=") || strings.HasPrefix(e, "MAKELEVEL=")
	})
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("make image IMG=%s: %v\n%s", img, err, out)
	}
	if out, err := exec.Command(filepath.Join(repo, "hack", "cluster.sh"), "load", filepath.Join(repo, "bin", "image.tar")).CombinedOutput(); err != nil {
		return fmt.Errorf("hack/cluster.sh load: %v\n%s", err, out)
	}
	return nil
}

// command runs a command in the repository, copying its standard error to
// progress as it comes, and returns its standard output.
func command(progress io.Writer, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = repo
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = progress
	err := cmd.Run()
	return stdout.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// kubectl runs kubectl against the cluster and fails the test on error.
func kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := kubectlErr(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func kubectlErr(args ...string) (string, error) {
	return kubectlIn(nil, args...)
}

// kubectlIn runs kubectl with stdin.
func kubectlIn(stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// apply is kubectl apply -f - of a manifest.
func apply(t testing.TB, manifest string) {
	t.Helper()
	if out, err := kubectlIn(strings.NewReader(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, manifest)
	}
}

// helm runs helm against the cluster and fails the test on error.
func helm(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helmBin, args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// eventually polls cond every half second until it holds, failing the test
// after timeout with the last thing cond said.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	last := ""
	for {
		ok, msg := cond()
		if ok {
			took := time.Since(start)
			if took > 2*time.Second {
				t.Logf("%s %s: %s", time.Now().Format("15:04:05"), what, took.Round(100*time.Millisecond))
			}
			return took
		}
		if msg != "" {
			last = msg
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s; last seen: %s", what, timeout, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// diagnose prints what a red run needs to say why: the operator's log, the
// events, every pod's log, and the node's component logs.
func diagnose(t testing.TB, namespaces ...string) {
	t.Helper()
	var b strings.Builder
	section := func(title, body string) { fmt.Fprintf(&b, "\n----- %s\n%s\n", title, strings.TrimRight(body, "\n")) }
	get := func(args ...string) string { out, _ := kubectlErr(args...); return out }
	section("nodes", get("get", "nodes", "-o", "wide"))
	for _, ns := range namespaces {
		section("objects in "+ns, get("-n", ns, "get", "all,syncpipelines,pdb,configmaps,secrets,leases", "-o", "wide"))
		section("events in "+ns, get("-n", ns, "get", "events", "--sort-by=.lastTimestamp"))
		section("pipelines in "+ns, get("-n", ns, "get", "syncpipelines", "-o", "yaml"))
		names := strings.Fields(get("-n", ns, "get", "pods", "-o", "jsonpath={.items[*].metadata.name}"))
		for _, pod := range names {
			section("log of pod "+ns+"/"+pod, get("-n", ns, "logs", pod, "--all-containers", "--tail=200"))
			if prev, err := kubectlErr("-n", ns, "logs", pod, "--all-containers", "--previous", "--tail=100"); err == nil {
				section("previous log of pod "+ns+"/"+pod, prev)
			}
		}
	}
	for _, c := range []string{"kubelet", "containerd", "kube-controller-manager"} {
		section(c+" log (last 40 lines)", tail(filepath.Join(stateDir, "logs", c+".log"), 40))
	}
	t.Log(b.String())
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1024*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
