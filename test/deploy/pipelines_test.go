package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type bbStep struct {
	Name     string   `json:"name"`
	Services []string `json:"services"`
	Caches   []string `json:"caches"`
	Script   []any    `json:"script"`
}

type bbPipelines struct {
	Image       string `json:"image"`
	Definitions struct {
		Caches   map[string]any `json:"caches"`
		Services map[string]struct {
			Image     string            `json:"image"`
			Variables map[string]string `json:"variables"`
		} `json:"services"`
	} `json:"definitions"`
	Pipelines map[string]any `json:"pipelines"`
}

// steps walks every pipeline (default, branches, tags, pull requests,
// custom; parallel groups included) and returns its steps, YAML anchors
// already resolved by the parser.
func steps(t *testing.T, v any) []bbStep {
	t.Helper()
	var out []bbStep
	switch v := v.(type) {
	case map[string]any:
		if s, ok := v["step"]; ok {
			b, _ := yaml.Marshal(s)
			var st bbStep
			if err := yaml.Unmarshal(b, &st); err != nil {
				t.Fatalf("step %v: %v", s, err)
			}
			return []bbStep{st}
		}
		for _, e := range v {
			out = append(out, steps(t, e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, steps(t, e)...)
		}
	}
	return out
}

func loadPipelines(t *testing.T) (bbPipelines, []bbStep) {
	t.Helper()
	var p bbPipelines
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "bitbucket-pipelines.yml")), &p); err != nil {
		t.Fatalf("bitbucket-pipelines.yml does not parse: %v", err)
	}
	all := steps(t, p.Pipelines)
	if len(all) == 0 {
		t.Fatal("bitbucket-pipelines.yml has no steps")
	}
	return p, all
}

// makeTargets lists the targets the Makefile defines.
func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	targets := map[string]bool{}
	re := regexp.MustCompile(`^([A-Za-z0-9_./$()-]+(?:\s+[A-Za-z0-9_./$()-]+)*)\s*:([^=]|$)`)
	for _, l := range strings.Split(readRepoFile(t, "Makefile"), "\n") {
		if m := re.FindStringSubmatch(l); m != nil && !strings.HasPrefix(l, "\t") {
			for _, name := range strings.Fields(m[1]) {
				targets[name] = true
			}
		}
	}
	return targets
}

func TestPipelineCallsOnlyExistingMakeTargets(t *testing.T) {
	_, all := loadPipelines(t)
	targets := makeTargets(t)
	makeCall := regexp.MustCompile(`(?:^|[;&|]\s*)make\s+([^;&|]*)`)
	called := 0
	for _, st := range all {
		for _, line := range st.Script {
			cmd, ok := line.(string)
			if !ok {
				continue // a pipe, not a command
			}
			for _, m := range makeCall.FindAllStringSubmatch(cmd, -1) {
				for _, arg := range strings.Fields(m[1]) {
					if strings.Contains(arg, "=") || strings.HasPrefix(arg, "-") {
						continue // a variable or an option
					}
					called++
					if !targets[arg] {
						t.Errorf("step %q calls `make %s`, which the Makefile does not define", st.Name, arg)
					}
				}
			}
		}
	}
	if called < 5 {
		t.Errorf("found only %d make calls in the pipeline; the parser missed some", called)
	}
}

func TestPipelineTestsAgainstRealServices(t *testing.T) {
	p, all := loadPipelines(t)
	for name, image := range map[string]string{"mysql": "mariadb", "redis": "redis", "sqlserver": "mcr.microsoft.com/mssql/server"} {
		if s, ok := p.Definitions.Services[name]; !ok || !strings.HasPrefix(s.Image, image) {
			t.Errorf("service %s must run %s, got %+v", name, image, s)
		}
	}
	var test *bbStep
	for i := range all {
		if slices.Contains(scriptLines(all[i]), "make test") {
			test = &all[i]
		}
	}
	if test == nil {
		t.Fatal("no step runs make test")
	}
	for _, s := range []string{"mysql", "redis", "sqlserver"} {
		if !slices.Contains(test.Services, s) {
			t.Errorf("the test step lacks service %s", s)
		}
	}
	if !strings.Contains(strings.Join(scriptLines(*test), "\n"), "export SISPORTA_TEST_MSSQL_DSN=") {
		t.Error("the test step must set SISPORTA_TEST_MSSQL_DSN, or the SQL Server integration tests skip")
	}
	for _, c := range []string{"gomod", "gobuild"} {
		if _, ok := p.Definitions.Caches[c]; !ok || !slices.Contains(test.Caches, c) {
			t.Errorf("cache %s must be defined and used by the test step", c)
		}
	}
	builtin := map[string]bool{"docker": true, "node": true, "pip": true, "maven": true, "gradle": true, "composer": true, "dotnetcore": true, "sbt": true, "ivy2": true}
	for _, st := range all {
		for _, c := range st.Caches {
			if _, ok := p.Definitions.Caches[c]; !ok && !builtin[c] {
				t.Errorf("step %q uses undefined cache %s", st.Name, c)
			}
		}
		for _, s := range st.Services {
			if _, ok := p.Definitions.Services[s]; !ok && s != "docker" {
				t.Errorf("step %q uses undefined service %s", st.Name, s)
			}
		}
	}
	// Releases: image, chart and GitOps steps exist.
	joined := ""
	for _, st := range all {
		joined += strings.Join(scriptLines(st), "\n") + "\n"
	}
	for _, want := range []string{"make docker-build docker-push", "make chart-push", "make gitops-bump", "make lint"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no step runs %q", want)
		}
	}
}

func scriptLines(st bbStep) []string {
	var out []string
	for _, l := range st.Script {
		if s, ok := l.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// The CI entry point of this repository runs make test too.
func TestCIRunsMakeTest(t *testing.T) {
	b, err := os.ReadFile(repoPath(t, ".ci/run"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "make test") {
		t.Error(".ci/run must run make test")
	}
}
