package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/test/testenv"
)

// runSync runs `sisporta sync` as a user would and returns its output and
// exit code.
func runSync(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(append([]string{"sync"}, args...))
	err := root.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		out.WriteString("\nerror: " + err.Error())
	}
	return out.String(), code
}

func TestSyncCommandOutputAndExitCodes(t *testing.T) {
	src, dst := testenv.NewDB(t, "cmdsrc"), testenv.NewDB(t, "cmddst")
	src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20))",
		"INSERT INTO items VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e'),(6,'f'),(7,'g'),(8,'h'),(9,'i'),(10,'j')")
	manifest := `apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: cmd-` + testenv.Random(3) + `}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - name: items
    source: {table: items}
    target: {table: items}
    cleanup: {mode: Delete, maxDeletePercent: 20}
  - name: ghost
    source: {table: GHOST_TABLE}
    target: {table: ghost}
`
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SISPORTA_SOURCE_DSN", src.DSN)
	t.Setenv("SISPORTA_TARGET_DSN", dst.DSN)
	t.Setenv("SISPORTA_REDIS_URL", testenv.RedisURL())

	// An entity fails: exit 1, the failure named, the other entity synced.
	out, code := runSync(t, "-f", path, "-o", "json")
	if code != 1 || !strings.Contains(out, "entities failed: ghost") {
		t.Fatalf("exit %d, want 1 naming ghost:\n%s", code, out)
	}
	var sum struct {
		Result   string `json:"result"`
		Entities []struct {
			Name        string `json:"name"`
			Result      string `json:"result"`
			RowsWritten int64  `json:"rowsWritten"`
			Error       string `json:"error"`
		} `json:"entities"`
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "\nerror:")]), &sum); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, out)
	}
	if sum.Result != "PartiallyFailed" || sum.Entities[0].RowsWritten != 10 || !strings.Contains(sum.Entities[1].Error, "GHOST_TABLE") {
		t.Fatalf("summary %+v", sum)
	}

	// A guard refuses: exit 3, nothing deleted.
	fixed := strings.Replace(manifest, "  - name: ghost\n    source: {table: GHOST_TABLE}\n    target: {table: ghost}\n", "", 1)
	if err := os.WriteFile(path, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	src.Exec(t, "DELETE FROM items WHERE id <= 5")
	out, code = runSync(t, "-f", path)
	if code != 3 || !strings.Contains(out, "GuardTripped") || !strings.Contains(out, "guard: cleanup would delete 5 of 10") {
		t.Fatalf("exit %d, want 3 with the guard's reason:\n%s", code, out)
	}
	if n := dst.Count(t, "items", ""); n != 10 {
		t.Fatalf("guard tripped but %d rows left", n)
	}

	// Bad input: a clear message, no run.
	out, code = runSync(t, "-f", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 1 || !strings.Contains(out, "reading the pipeline file") {
		t.Fatalf("missing file: exit %d\n%s", code, out)
	}
	out, code = runSync(t, "-f", path, "-o", "yaml")
	if code != 1 || !strings.Contains(out, "use text or json") {
		t.Fatalf("bad -o: exit %d\n%s", code, out)
	}
}
