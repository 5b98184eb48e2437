package queue

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/schema"
)

func sampleSchema() schema.Table {
	return schema.Table{Columns: []schema.Column{
		{Name: "id", Type: "INT", Kind: schema.KindInt, Key: 1},
		{Name: "name", Type: "VARCHAR(50)", Kind: schema.KindString},
		{Name: "logo", Type: "VARBINARY(10)", Kind: schema.KindBytes},
		{Name: "note", Type: "TEXT", Kind: schema.KindString, Nullable: true},
	}}
}

func TestRowCodecRoundTripsEveryValueExactly(t *testing.T) {
	kinds := []schema.Kind{schema.KindInt, schema.KindString, schema.KindBytes, schema.KindString}
	rows := []schema.Row{
		{[]byte("1"), []byte(`quote " backslash \ tab 	 newline
 nul ` + "\x00 ctrl \x1f emoji 🚪 日本"), []byte{0, 0xff, '"', '\\'}, nil},
		{[]byte("2"), []byte{}, []byte{}, []byte{}},
		{[]byte("3"), []byte("invalid utf8 \xff\xfe here"), nil, []byte("\u2028\u2029")},
	}
	enc := appendRows(nil, rows, kinds)
	if !json.Valid(enc) {
		t.Fatalf("not valid JSON: %s", enc)
	}
	got, err := parseRows(enc, kinds)
	if err != nil {
		t.Fatal(err)
	}
	assertRowsEqual(t, rows, got)
	// Standard JSON decoders read the text values as they are.
	var generic [][]any
	if err := json.Unmarshal(enc, &generic); err != nil {
		t.Fatal(err)
	}
	if generic[0][1] != string(rows[0][1]) || generic[1][1] != "" || generic[0][3] != nil {
		t.Errorf("encoding/json reads %q", generic[0])
	}
}

func TestRowCodecRandomRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	kinds := []schema.Kind{schema.KindString, schema.KindBytes, schema.KindString}
	for i := 0; i < 2000; i++ {
		row := make(schema.Row, 3)
		for j := range row {
			switch r.IntN(4) {
			case 0:
				row[j] = nil
			default:
				b := make([]byte, r.IntN(40))
				for k := range b {
					b[k] = byte(r.IntN(256))
				}
				row[j] = b
			}
		}
		enc := appendRows(nil, []schema.Row{row}, kinds)
		got, err := parseRows(enc, kinds)
		if err != nil {
			t.Fatalf("%q: %v", enc, err)
		}
		assertRowsEqual(t, []schema.Row{row}, got)
	}
}

func TestRowCodecRefusesMalformedInput(t *testing.T) {
	for _, bad := range []string{`[`, `[[`, `[["a"`, `[["a",]]`, `[[1]]`, `[["\x"]]`, `[[{"c":"x"}]]`, `[["unterminated]]`} {
		if _, err := parseRows([]byte(bad), nil); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func assertRowsEqual(t *testing.T, want, got []schema.Row) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if len(want[i]) != len(got[i]) {
			t.Fatalf("row %d: %d values, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			w, g := want[i][j], got[i][j]
			if (w == nil) != (g == nil) || !bytes.Equal(w, g) {
				t.Errorf("row %d col %d: %q (nil %v), want %q (nil %v)", i, j, g, g == nil, w, w == nil)
			}
		}
	}
}

func TestBatchPayloadRoundTripAndCompression(t *testing.T) {
	b := &Batch{Pipeline: "sales/erp", Run: 42, Entity: "products", Seq: 3, Table: "products", Schema: sampleSchema(),
		Ranged: true, Lo: schema.Row{[]byte("10")}, Hi: schema.Row{[]byte("20")}}
	for i := 0; i < 10; i++ {
		b.Rows = append(b.Rows, schema.Row{[]byte("1"), []byte("Portão"), []byte{1, 2}, nil})
	}
	small, err := EncodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(small) {
		t.Fatalf("small batch is not plain JSON: %s", small)
	}
	got, err := DecodeBatch(small)
	if err != nil {
		t.Fatal(err)
	}
	if got.Run != 42 || got.Seq != 3 || !got.Ranged || string(got.Lo[0]) != "10" || string(got.Hi[0]) != "20" || len(got.Rows) != 10 {
		t.Fatalf("decoded %+v", got)
	}
	assertRowsEqual(t, b.Rows, got.Rows)

	// A large batch is compressed and still decodes to the same rows.
	big := strings.Repeat("x", 1000)
	b.Rows = nil
	for i := 0; i < 500; i++ {
		b.Rows = append(b.Rows, schema.Row{[]byte("1"), []byte(big), nil, nil})
	}
	b.Lo, b.Hi = nil, nil
	enc, err := EncodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(enc, s2Magic) || len(enc) > 100<<10 {
		t.Fatalf("large batch not compressed: %d bytes", len(enc))
	}
	got, err = DecodeBatch(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Lo != nil || got.Hi != nil || len(got.Rows) != 500 {
		t.Fatalf("decoded %d rows lo %v hi %v", len(got.Rows), got.Lo, got.Hi)
	}
	assertRowsEqual(t, b.Rows, got.Rows)

	// A gzipped payload of an earlier release (in a dead-letter queue)
	// still decodes; a damaged compressed one is refused.
	plain, err := decompress(enc)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(plain)
	_ = zw.Close()
	if got, err = DecodeBatch(gz.Bytes()); err != nil || len(got.Rows) != 500 {
		t.Fatalf("a gzipped payload: %v", err)
	}
	if _, err := DecodeBatch(enc[:len(enc)/2]); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("half a compressed payload: %v", err)
	}

	if _, err := DecodeBatch([]byte(`{"v":99,"rows":[]}`)); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("a payload of another version: %v", err)
	}
}

func TestPayloadsCarryNoSecrets(t *testing.T) {
	// Tasks carry the entity spec, which names Secrets but holds no values.
	f := &Finalize{Pipeline: "p/q", Run: 1, Entity: "e", Spec: syncv1alpha1.EntitySpec{Name: "e"}, WaitUntil: time.Now()}
	b, err := EncodeFinalize(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, word := range []string{"dsn", "password", "redis://"} {
		if strings.Contains(strings.ToLower(string(b)), word) {
			t.Errorf("finalize payload mentions %q: %s", word, b)
		}
	}
}

func TestTaskIDsAreUniquePerRunEntityBatch(t *testing.T) {
	ids := map[string]bool{}
	for _, run := range []int64{1, 2} {
		for _, e := range []string{"a", "b"} {
			for seq := 0; seq < 3; seq++ {
				ids[BatchTaskID("ns/p", run, e, seq)] = true
			}
			ids[FinalizeTaskID("ns/p", run, e)] = true
		}
	}
	if len(ids) != 2*2*4 {
		t.Fatalf("%d distinct IDs, want 16", len(ids))
	}
	if Name("sales", "erp") != "sisporta.sales.erp" {
		t.Errorf("queue name %s", Name("sales", "erp"))
	}
}

func TestRetryPolicy(t *testing.T) {
	if IsFailure(ErrNotReady) || IsFailure(ErrRetryLater) || !IsFailure(errString("boom")) {
		t.Error("IsFailure misclassifies")
	}
	prev := time.Duration(0)
	for n := 0; n < 12; n++ {
		d := RetryDelay(n, errString("boom"), nil)
		if d <= 0 || d > 10*time.Minute {
			t.Fatalf("retry %d: delay %s", n, d)
		}
		if n > 2 && n < 8 && d < prev/4 {
			t.Errorf("retry %d: delay %s does not back off (previous %s)", n, d, prev)
		}
		prev = d
	}
	if d := RetryDelay(5, ErrNotReady, nil); d > time.Second {
		t.Errorf("a finalize waiting for batches polls every %s", d)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// A sparse batch carries its parts, the digest it wants and its unchanged
// count, under a payload version that workers of earlier releases refuse
// (they would take its rows for the whole range and delete the others).
func TestSparseBatchRoundTrips(t *testing.T) {
	want := schema.Digest{Count: 5, Xor: 99, Sum: "12345678901234567890123"}
	b := &Batch{Pipeline: "p/q", Run: 7, Entity: "e", Seq: 2, Table: "t", Schema: sampleSchema(), Ranged: true,
		Lo: schema.Row{[]byte("10")}, Hi: nil, Want: &want, Unchanged: 3,
		Parts: []Part{{Lo: schema.Row{[]byte("10")}, Hi: schema.Row{[]byte("12")}, Rows: 1}, {Lo: schema.Row{[]byte("14")}, Hi: nil, Rows: 1}}}
	for _, k := range []string{"12", "15"} {
		b.Rows = append(b.Rows, schema.Row{[]byte(k), []byte("x"), nil, nil})
	}
	enc, err := EncodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(enc, []byte(`"v":2`)) {
		t.Fatalf("a sparse batch is not version 2: %s", enc)
	}
	got, err := DecodeBatch(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Want == nil || *got.Want != want || got.Unchanged != 3 || len(got.Parts) != 2 || len(got.Rows) != 2 {
		t.Fatalf("decoded %+v", got)
	}
	if string(got.Parts[0].Lo[0]) != "10" || string(got.Parts[0].Hi[0]) != "12" || got.Parts[0].Rows != 1 || got.Parts[1].Hi != nil || string(got.Parts[1].Lo[0]) != "14" {
		t.Fatalf("parts %+v", got.Parts)
	}
	// Version 2 without the digest it wants is no sparse batch.
	bad := bytes.Replace(enc, []byte(`"want":`), []byte(`"wanted":`), 1)
	if _, err := DecodeBatch(bad); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("a version 2 payload without want: %v", err)
	}
}

// Bulk rows travel as the bytes they are, after the header: a first
// field that starts with a space or a tab is data, compressed or not.
func TestBulkBatchRoundTrips(t *testing.T) {
	for _, bulk := range []string{" 1\tname\t\\N\t123\n\t2\tx\t\\N\t456\n", strings.Repeat("\t1\t"+strings.Repeat("y", 100)+"\t\\N\t7\n", 200)} {
		d := schema.Digest{Count: strings.Count(bulk, "\n"), Xor: 1, Sum: "2"}
		b := &Batch{Pipeline: "p/q", Run: 7, Entity: "e", Seq: 2, Table: "t", Schema: sampleSchema(), Ranged: true, Digest: &d,
			Hi: schema.Row{[]byte("99")}, Bulk: []byte(bulk), BulkRows: d.Count}
		enc, err := EncodeBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeBatchHeader(enc)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Bulk) != bulk || got.BulkRows != d.Count || got.RowCount() != d.Count || string(got.Hi[0]) != "99" || got.Version != BulkPayloadVersion {
			t.Fatalf("decoded %d bulk rows %q (version %d), want %d: %q", got.BulkRows, got.Bulk, got.Version, d.Count, bulk)
		}
		if err := got.LoadRows(); err != nil || got.Rows != nil {
			t.Fatalf("a bulk batch has no JSON rows to load: %v %v", got.Rows, err)
		}
	}
	// Bulk rows go alone, and a version 3 payload must say how many.
	if _, err := EncodeBatch(&Batch{Schema: sampleSchema(), Bulk: []byte("1\tx\t\\N\t\\N\t1\n"), BulkRows: 1, Rows: []schema.Row{{[]byte("1"), nil, nil, nil}}}); err == nil {
		t.Error("a batch with bulk rows and JSON rows encoded")
	}
	enc, err := EncodeBatch(&Batch{Schema: sampleSchema(), Bulk: []byte("1\tx\t\\N\t\\N\t1\n"), BulkRows: 1})
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(enc, []byte(`"bulkRows":1`), []byte(`"bulkRows":0`), 1)
	if _, err := DecodeBatchHeader(bad); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("a version 3 payload without its row count: %v", err)
	}
}
