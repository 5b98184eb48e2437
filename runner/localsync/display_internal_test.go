package localsync

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sisporta/sisporta/runner/pipeline"
)

func TestProgressDisplayShowsEachEntity(t *testing.T) {
	p, err := pipeline.Parse([]byte(`apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: p}
spec:
  schedule: "@daily"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - {name: dealers, source: {table: d}, target: {table: d}}
  - {name: products, source: {table: p}, target: {table: p}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	d := newDisplay(&out, p)
	d.read("dealers", 1200, false)
	d.applied("dealers", 1000, 200)
	d.read("products", 7, true)
	time.Sleep(500 * time.Millisecond) // a refresh or two
	d.stop()
	got := out.String()
	for _, want := range []string{"dealers", "products", "read 1200", "written 1000", "unchanged 200", "rows/s"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress output lacks %q:\n%s", want, got)
		}
	}
	// Without a terminal there is no display at all.
	quiet := newDisplay(nil, p)
	quiet.read("dealers", 1, true)
	quiet.stop()
}
