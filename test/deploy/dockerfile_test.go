package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// No Docker engine runs here, so the image cannot be built in a test; these
// check what can be checked: that the Dockerfile builds the binary as
// `make build` does, into a distroless nonroot image, and that
// .dockerignore lets in every file the binary is compiled from.

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerInstructions joins continuation lines and drops comments.
func dockerInstructions(t *testing.T) []string {
	t.Helper()
	var out []string
	cur := ""
	for _, l := range strings.Split(readRepoFile(t, "Dockerfile"), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") || (l == "" && cur == "") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		if cur+l != "" {
			out = append(out, strings.Join(strings.Fields(cur+l), " "))
		}
		cur = ""
	}
	return out
}

func TestDockerfileBuildsLikeMakeBuild(t *testing.T) {
	ins := dockerInstructions(t)
	var froms, goBuild []string
	for _, in := range ins {
		if strings.HasPrefix(in, "FROM ") {
			froms = append(froms, in)
		}
		if strings.HasPrefix(in, "RUN ") && strings.Contains(in, " go build ") {
			goBuild = append(goBuild, in)
		}
	}
	if len(froms) != 2 || !strings.HasSuffix(froms[0], " AS build") {
		t.Fatalf("want a build stage and a runtime stage, got %v", froms)
	}
	if !regexp.MustCompile(`^FROM gcr\.io/distroless/static[-a-z0-9]*:nonroot$`).MatchString(froms[1]) {
		t.Errorf("the runtime stage must be distroless static nonroot: %s", froms[1])
	}
	if len(goBuild) != 1 {
		t.Fatalf("want one go build, got %v", goBuild)
	}

	// The Makefile's build: CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" ...
	mk := readRepoFile(t, "Makefile")
	ldflags := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=\s*(.+)$`).FindStringSubmatch(mk)
	recipe := regexp.MustCompile(`(?m)^\t(CGO_ENABLED=0 \$\(GO\) build .*-o \$\(BIN\)/sisporta \.)$`).FindStringSubmatch(mk)
	if ldflags == nil || recipe == nil {
		t.Fatal("cannot find LDFLAGS and the build recipe in the Makefile; keep this test in step with it")
	}
	wantLD := strings.ReplaceAll(strings.TrimSpace(ldflags[1]), "$(VERSION)", "${VERSION}")
	build := goBuild[0]
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "$(LDFLAGS)"`} {
		if !strings.Contains(recipe[1], want) {
			t.Errorf("make build lacks %s: %s", want, recipe[1])
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "` + wantLD + `"`, "-o /out/sisporta ."} {
		if !strings.Contains(build, want) {
			t.Errorf("the Dockerfile's build lacks %s (as make build has it):\n%s", want, build)
		}
	}

	final := ins[slices.Index(ins, froms[1]):]
	joined := strings.Join(final, "\n")
	for _, want := range []string{"COPY --from=build /out/sisporta /usr/local/bin/sisporta", "USER 65532:65532", `ENTRYPOINT ["/usr/local/bin/sisporta"]`} {
		if !strings.Contains(joined, want) {
			t.Errorf("the runtime stage lacks %q", want)
		}
	}
	if strings.Count(joined, "COPY") != 1 {
		t.Errorf("the runtime stage must hold the one binary only:\n%s", joined)
	}
}

// dockerIgnored says whether .dockerignore keeps path out of the build
// context, as Docker reads it: the last matching pattern wins, "!" lets a
// path back in, and a pattern matching a parent directory matches
// everything under it.
func dockerIgnored(patterns []string, path string) bool {
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = filepath.Clean(strings.TrimPrefix(p, "!"))
		re := regexp.MustCompile("^" + dockerPatternRegexp(p) + "$")
		matched := false
		for sub := path; sub != "." && sub != "/"; sub = filepath.Dir(sub) {
			if re.MatchString(sub) {
				matched = true
				break
			}
		}
		if matched {
			ignored = !neg
		}
	}
	return ignored
}

func dockerPatternRegexp(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

func TestDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	var patterns []string
	for _, l := range strings.Split(readRepoFile(t, ".dockerignore"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	root := repoRoot(t)
	// Every file the binary is compiled from: Go files and embedded files
	// of each package of this module that main imports.
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "github.com/sisporta/sisporta"}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}
{{end}}{{end}}{{end}}`, ".")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, rel)
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, f := range needed {
		if dockerIgnored(patterns, f) {
			t.Errorf(".dockerignore leaves out %s, which the binary is built from: add a !%s/ line", f, strings.Split(f, "/")[0])
		}
	}
	for _, f := range []string{".git/config", "bin/helm", "hack/tools/go.mod", "charts/sisporta/values.yaml", "runner/apply/apply_test.go", "runner/x/testdata/a.sql"} {
		if !dockerIgnored(patterns, f) {
			t.Errorf(".dockerignore lets %s into the build context; it is not needed there", f)
		}
	}
}
