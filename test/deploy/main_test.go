package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sisporta/sisporta/test/testenv"
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
func tool(t *testing.T, envVar string) string {
	t.Helper()
	const how = "run `make test`, or `make tools` and then HELM=$PWD/bin/helm KUSTOMIZE_BUILD=$PWD/bin/kustomize-build go test ./test/deploy"
	p := os.Getenv(envVar)
	if p == "" {
		t.Fatalf("%s is not set: %s", envVar, how)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v; %s", envVar, p, err, how)
	}
	return p
}

func helmBin(t *testing.T) string { return tool(t, "HELM") }

func kustomizeBin(t *testing.T) string { return tool(t, "KUSTOMIZE_BUILD") }

// run runs a command in the repository root and returns its combined
// output and error.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
