package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sisporta/sisporta/hack/testenv"
)

// env is the envtest API server shared by the package's tests.
var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// repoRoot is the repository root; tests read the files they check there.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func repoPath(t *testing.T, rel string) string {
	return filepath.Join(repoRoot(t), filepath.FromSlash(rel))
}

// tool finds a binary that the Makefile builds and names in an environment
// variable. A missing tool fails the test: these tests must never pass by
// not running.
func tool(t *testing.T, envVar, makeTarget string) string {
	t.Helper()
	p := os.Getenv(envVar)
	if p == "" {
		t.Fatalf("%s is not set: run `make test`, or `make %s` and then %s=$PWD/%s go test ./hack/deploytest", envVar, makeTarget, envVar, makeTarget)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v (build it with `make %s`)", envVar, p, err, makeTarget)
	}
	return p
}

func helmBin(t *testing.T) string { return tool(t, "HELM", "bin/helm") }

func kustomizeBin(t *testing.T) string { return tool(t, "KUSTOMIZE_BUILD", "bin/kustomize-build") }

// run runs a command in the repository root and returns its combined
// output and error.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
