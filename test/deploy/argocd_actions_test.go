package deploy

import (
	"context"
	"fmt"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

func TestArgoCDActionDiscovery(t *testing.T) {
	scripts := loadArgoScripts(t)
	for _, tc := range []struct {
		spec     string
		disabled map[string]bool
	}{
		{"{}", map[string]bool{"run-now": false, "suspend": false, "resume": true}},
		{"{suspend: false}", map[string]bool{"run-now": false, "suspend": false, "resume": true}},
		{"{suspend: true}", map[string]bool{"run-now": false, "suspend": true, "resume": false}},
	} {
		got, ok := runLua(t, scripts.discovery, objFromYAML(t, pipeline(tc.spec, ""))).(*lua.LTable)
		if !ok {
			t.Fatal("discovery.lua must return a table of actions")
		}
		for name, want := range tc.disabled {
			a, ok := got.RawGetString(name).(*lua.LTable)
			if !ok {
				t.Fatalf("spec %s: no action %q offered", tc.spec, name)
			}
			if d := a.RawGetString("disabled") == lua.LTrue; d != want {
				t.Errorf("spec %s: action %s disabled=%v, want %v", tc.spec, name, d, want)
			}
		}
	}
}

// applyAction runs an action on a live SyncPipeline and writes the result
// back, as Argo CD does: the API server must accept what the action made.
func applyAction(t *testing.T, script string, p *syncv1alpha1.SyncPipeline) *syncv1alpha1.SyncPipeline {
	t.Helper()
	ctx := context.Background()
	live, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		t.Fatal(err)
	}
	// Argo CD hands the action the live object with its type.
	live["apiVersion"], live["kind"] = syncv1alpha1.GroupVersion.String(), "SyncPipeline"
	obj := objFromYAML(t, mustJSON(t, live))
	out, ok := fromLua(runLua(t, script, obj)).(map[string]any)
	if !ok {
		t.Fatal("the action must return the object")
	}
	u := &unstructured.Unstructured{Object: out}
	if err := env.Client.Update(ctx, u); err != nil {
		t.Fatalf("the API server refuses what the action made: %v", err)
	}
	var got syncv1alpha1.SyncPipeline
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

func TestArgoCDActions(t *testing.T) {
	scripts := loadArgoScripts(t)
	ensureNamespace(t, "argo-actions", nil)
	ctx := context.Background()
	objs := kustomize(t, "config/samples")
	sample := find(t, objs, "SyncPipeline", "erp-to-quotes")
	var p syncv1alpha1.SyncPipeline
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(sample.Object, &p); err != nil {
		t.Fatal(err)
	}
	p.Namespace = "argo-actions"
	p.Name = fmt.Sprintf("%s-%d", p.Name, time.Now().UnixNano()%1e6) // repeatable runs on one API server
	p.Annotations = map[string]string{"team": "data"}
	if err := env.Client.Create(ctx, &p); err != nil {
		t.Fatal(err)
	}

	got := applyAction(t, scripts.actions["suspend"], &p)
	if !got.Spec.Suspend || len(got.Spec.Entities) != len(p.Spec.Entities) {
		t.Errorf("suspend: spec.suspend=%v, entities %d (want true, %d)", got.Spec.Suspend, len(got.Spec.Entities), len(p.Spec.Entities))
	}
	got = applyAction(t, scripts.actions["resume"], got)
	if got.Spec.Suspend {
		t.Error("resume left spec.suspend true")
	}

	before := time.Now().UTC().Truncate(time.Second)
	got = applyAction(t, scripts.actions["run-now"], got)
	v := got.Annotations[syncv1alpha1.AnnotationRunNow]
	at, err := time.Parse(time.RFC3339, v)
	if err != nil || at.Before(before) {
		t.Errorf("run-now set %s=%q, want the current UTC time (RFC 3339)", syncv1alpha1.AnnotationRunNow, v)
	}
	if got.Annotations["team"] != "data" {
		t.Errorf("run-now lost the other annotations: %v", got.Annotations)
	}

	// A pipeline without any annotation gets one.
	out, _ := fromLua(runLua(t, scripts.actions["run-now"], objFromYAML(t, pipeline("{}", "")))).(map[string]any)
	ann, _, _ := unstructured.NestedStringMap(out, "metadata", "annotations")
	if ann[syncv1alpha1.AnnotationRunNow] == "" {
		t.Errorf("run-now on a pipeline without annotations: %v", out["metadata"])
	}
}
