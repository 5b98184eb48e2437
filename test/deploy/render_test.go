package deploy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	chartDir    = "charts/sisporta"
	releaseNS   = "sisporta-system"
	releaseName = "sisporta"
	kubeVersion = "1.37.2"
	// allValues turns every optional part of the chart on.
	allValues = "test/deploy/testdata/values-all.yaml"
)

// helmTemplate renders the chart with extra helm arguments (-f, --set).
func helmTemplate(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helmTemplateErr(t, args...)
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return decodeObjects(t, out)
}

func helmTemplateErr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	base := []string{"template", releaseName, chartDir, "--namespace", releaseNS, "--kube-version", kubeVersion}
	return run(t, helmBin(t), append(base, args...)...)
}

// decodeObjects splits a multi-document YAML stream into objects.
func decodeObjects(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(stream), 4096)
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered YAML does not parse: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	if len(objs) == 0 {
		t.Fatal("nothing rendered")
	}
	return objs
}

// find returns the one object of a kind and name, failing when absent.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %q among the rendered objects: %v", kind, name, kindsAndNames(objs))
	return nil
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var r []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			r = append(r, o)
		}
	}
	return r
}

func kindsAndNames(objs []*unstructured.Unstructured) []string {
	var r []string
	for _, o := range objs {
		r = append(r, o.GetKind()+"/"+o.GetName())
	}
	return r
}
