package v1alpha1_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	sigsyaml "sigs.k8s.io/yaml"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// TestCRDDefaultsAreTheConstants: the +kubebuilder:default markers cannot
// name Go constants, so the generated CRD is checked against them; every
// default in the CRD must be one of these.
func TestCRDDefaultsAreTheConstants(t *testing.T) {
	want := map[string]any{
		"spec.target.driver":                            syncv1alpha1.DefaultTargetDriver,
		"spec.queue":                                    map[string]any{},
		"spec.queue.maxRetry":                           syncv1alpha1.DefaultMaxRetry,
		"spec.workers":                                  map[string]any{},
		"spec.workers.minReplicas":                      syncv1alpha1.DefaultMinReplicas,
		"spec.workers.maxReplicas":                      syncv1alpha1.DefaultMaxReplicas,
		"spec.workers.targetPendingPerReplica":          syncv1alpha1.DefaultTargetPendingPerReplica,
		"spec.workers.scaleDownStabilizationSeconds":    syncv1alpha1.DefaultScaleDownStabilizationSeconds,
		"spec.workers.concurrency":                      syncv1alpha1.DefaultConcurrency,
		"spec.batchSize":                                syncv1alpha1.DefaultBatchSize,
		"spec.entities[].cleanup":                       map[string]any{},
		"spec.entities[].cleanup.mode":                  syncv1alpha1.DefaultCleanupMode,
		"spec.entities[].cleanup.maxDeletePercent":      syncv1alpha1.DefaultMaxDeletePercent,
		"spec.entities[].source.cursor.lookbackSeconds": syncv1alpha1.DefaultLookbackSeconds,
	}
	b, err := os.ReadFile("../../config/crd/bases/sync.sisporta.io_syncpipelines.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := sigsyaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var walk func(path string, s *apiextensionsv1.JSONSchemaProps)
	walk = func(path string, s *apiextensionsv1.JSONSchemaProps) {
		if s.Default != nil {
			got[path] = string(s.Default.Raw)
		}
		for name, p := range s.Properties {
			walk(strings.TrimPrefix(path+"."+name, "."), &p)
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(path+"[]", s.Items.Schema)
		}
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == syncv1alpha1.GroupVersion.Version {
			walk("", v.Schema.OpenAPIV3Schema)
		}
	}
	for path, w := range want {
		raw, _ := json.Marshal(w)
		if g, ok := got[path]; !ok {
			t.Errorf("the CRD has no default for %s, the Go constant says %s", path, raw)
		} else if g != string(raw) {
			t.Errorf("the CRD defaults %s to %s, the Go constant to %s: change the +kubebuilder:default marker or the constant", path, g, raw)
		}
	}
	for path, g := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("the CRD defaults %s to %s: define a Default constant for it in defaults.go, use it, and list it here", path, g)
		}
	}
}

// TestConditionReasonsListsEveryReason: ConditionReasons feeds generated
// consumers (the Argo CD health check), so a reason missing from it would
// be missing there.
func TestConditionReasonsListsEveryReason(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "conditions.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if strings.HasPrefix(n.Name, "Reason") {
					v, _ := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
					declared = append(declared, v)
				}
			}
		}
	}
	listed := slices.Clone(syncv1alpha1.ConditionReasons)
	sort.Strings(declared)
	sort.Strings(listed)
	if !slices.Equal(declared, listed) {
		t.Errorf("ConditionReasons is %v, the Reason constants are %v", listed, declared)
	}
}
