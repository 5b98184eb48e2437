package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitopsRepo makes a bare repository holding one values file, standing in
// for the GitOps repository Argo CD deploys from.
func gitopsRepo(t *testing.T, values string) string {
	t.Helper()
	dir := t.TempDir()
	bare, work := filepath.Join(dir, "gitops.git"), filepath.Join(dir, "work")
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(dir, "init", "--quiet", "--bare", bare)
	git(dir, "init", "--quiet", work)
	if err := os.MkdirAll(filepath.Join(work, "apps"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "apps", "values.yaml"), []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	git(work, "add", ".")
	git(work, "commit", "--quiet", "-m", "start")
	git(work, "push", "--quiet", bare, "HEAD:main")
	return bare
}

func gitopsBump(t *testing.T, repo, tag string) (string, error) {
	t.Helper()
	cmd := exec.Command(repoPath(t, "hack/gitops-bump.sh"), tag)
	cmd.Env = append(os.Environ(), "GITOPS_REPO=file://"+repo, "GITOPS_FILE=apps/values.yaml")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func fileAtMain(t *testing.T, repo string) string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", repo, "show", "main:apps/values.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("git show: %v\n%s", err, out)
	}
	return string(out)
}

func TestGitOpsBumpSetsTheMarkedTag(t *testing.T) {
	repo := gitopsRepo(t, "# prod\nimage:\n  repository: ghcr.io/acme/sisporta\n  tag: v1.0.0  # sisporta-image-tag\nredis: {enabled: true}\n")
	if out, err := gitopsBump(t, repo, "v1.1.0"); err != nil {
		t.Fatalf("gitops-bump: %v\n%s", err, out)
	}
	want := "# prod\nimage:\n  repository: ghcr.io/acme/sisporta\n  tag: \"v1.1.0\"  # sisporta-image-tag\nredis: {enabled: true}\n"
	if got := fileAtMain(t, repo); got != want {
		t.Errorf("after the bump:\n%s\nwant:\n%s", got, want)
	}
	// The same tag again changes nothing and succeeds.
	if out, err := gitopsBump(t, repo, "v1.1.0"); err != nil || !strings.Contains(out, "already") {
		t.Errorf("a repeated bump: %v\n%s", err, out)
	}
}

func TestGitOpsBumpRefusesWhatItCannotDo(t *testing.T) {
	unmarked := gitopsRepo(t, "image:\n  tag: v1.0.0\n")
	for name, tc := range map[string]struct{ repo, tag, says string }{
		"no marker":    {unmarked, "v1.1.0", "exactly one line ending in '# sisporta-image-tag'"},
		"bad tag":      {unmarked, "v1;rm -rf /", "not a valid image tag"},
		"no such repo": {filepath.Join(t.TempDir(), "nothing.git"), "v1.1.0", "cannot clone"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := gitopsBump(t, tc.repo, tc.tag)
			if err == nil || !strings.Contains(out, tc.says) {
				t.Errorf("want a failure saying %q; err %v:\n%s", tc.says, err, out)
			}
		})
	}
	if got := fileAtMain(t, unmarked); got != "image:\n  tag: v1.0.0\n" {
		t.Errorf("a refused bump changed the file: %q", got)
	}
}
