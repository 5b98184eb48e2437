package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// Sisporta's own names (_sisporta_ tables and columns), a malformed owner
// to take a table over from, and a verification schedule of zero runs are
// refused by the API server and by Validate alike; the fields' valid forms
// are accepted by both.
func TestReservedNamesOwnersAndVerifySchedules(t *testing.T) {
	refused := []struct {
		name   string
		mutate func(o map[string]any)
		want   string
	}{
		{"a state table as target", func(o map[string]any) { entity(o, 0)["target"] = map[string]any{"table": "_sisporta_ledger"} },
			"target table names starting with _sisporta_"},
		{"a qualified state table in capitals", func(o map[string]any) { entity(o, 0)["target"] = map[string]any{"table": "mirror._SISPORTA_runs"} },
			"target table names starting with _sisporta_"},
		{"a column mapped onto the row hash", func(o map[string]any) {
			entity(o, 0)["columns"] = []any{map[string]any{"source": "CodProduto", "target": "_sisporta_hash"}}
		}, "target column names starting with _sisporta_"},
		{"a source column named like the soft-delete mark", func(o map[string]any) {
			entity(o, 0)["columns"] = []any{map[string]any{"source": "_Sisporta_Deleted_At"}}
		}, "target column names starting with _sisporta_"},
		{"takeOverFrom without an entity", func(o map[string]any) {
			entity(o, 0)["target"] = map[string]any{"table": "products", "takeOverFrom": "sales/erp"}
		}, "takeOverFrom names the current owner as <namespace>/<pipeline>/<entity>"},
		{"verify every 0 runs", func(o map[string]any) { spec(o)["verify"] = map[string]any{"everyRuns": int64(0)} },
			"everyRuns in body should be greater than or equal to 1"},
	}
	for i, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			o := validPipeline(fmt.Sprintf("reserved-%d", i))
			tc.mutate(o)
			err := create(context.Background(), o)
			if err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("API server: %v, want Invalid saying %q", err, tc.want)
			}
			local, err := syncv1alpha1.Decode(o)
			if err != nil {
				return
			}
			if err := local.Validate(); err == nil {
				t.Fatal("Validate accepted what the API server refuses")
			}
		})
	}
	o := validPipeline("reserved-valid")
	entity(o, 0)["target"] = map[string]any{"table": "products", "takeOverFrom": "sales/erp-to-quotes/products"}
	spec(o)["verify"] = map[string]any{"everyRuns": int64(96), "interval": "24h"}
	entity(o, 1)["target"] = map[string]any{"table": "mirror.sisporta_dealers"}
	if err := create(context.Background(), o); err != nil {
		t.Fatalf("valid takeOverFrom and verify refused: %v", err)
	}
	local, err := syncv1alpha1.Decode(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := local.Validate(); err != nil {
		t.Fatalf("Validate refused what the API server accepts: %v", err)
	}
}

// MySQL column names ignore case: two target names that differ only in
// case would clash in CREATE TABLE, so Validate refuses them.
func TestColumnTargetsMustDifferBeyondCase(t *testing.T) {
	o := validPipeline("case-clash")
	entity(o, 0)["columns"] = []any{map[string]any{"source": "CodProduto", "target": "Name"}, map[string]any{"source": "Descricao", "target": "name"}}
	p, err := syncv1alpha1.Decode(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), `target column "name" appears twice (MySQL column names ignore case)`) {
		t.Fatalf("Validate: %v", err)
	}
}

// Names the API server would refuse are refused in files too: pipeline
// IDs (namespace/name) and queue names build on them.
func TestMetadataNamesAreKubernetesNames(t *testing.T) {
	for _, c := range []struct{ name, namespace, want string }{
		{"x/y", "default", "metadata.name"},
		{"erp", "Hostile_NS", "metadata.namespace"},
	} {
		o := validPipeline(c.name)
		o["metadata"].(map[string]any)["namespace"] = c.namespace
		p, err := syncv1alpha1.Decode(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s/%s: %v", c.namespace, c.name, err)
		}
	}
}
