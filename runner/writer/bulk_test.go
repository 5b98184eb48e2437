package writer_test

import (
	"context"
	"crypto/md5"
	"fmt"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"
)

// bulkBatch is loadBatch with its rows in the bulk form, as the extractor
// sends a full copy's batches.
func bulkBatch(t *testing.T, run int64, seq int, s schema.Table, rows []schema.Row, lo schema.Row) *writer.Batch {
	t.Helper()
	b := loadBatch(run, seq, s, rows, lo)
	enc := writer.NewBulkEncoder(&s)
	if enc == nil {
		t.Fatal("the schema has no bulk form")
	}
	h := schema.NewHasher(s.Columns)
	hashes := make([]uint64, len(rows))
	for i, r := range rows {
		hashes[i] = h.Sum(r)
	}
	b.Bulk, b.BulkRows, b.Rows = enc.Append(nil, rows, hashes), len(rows), nil
	// As the worker hands it over: the payload has no other rows to decode.
	b.DecodeRows = func() ([]schema.Row, error) { return nil, nil }
	return b
}

// upsertedCopy writes rows through the upsert (batches too small for
// LOAD DATA) into a database of its own: what every other path must store.
func upsertedCopy(t *testing.T, s schema.Table, rows []schema.Row) *testenv.DB {
	t.Helper()
	db, tg := openTarget(t, "upsert")
	var lo schema.Row
	for i, seq := 0, 1; i < len(rows); i, seq = i+20, seq+1 {
		part := rows[i:min(i+20, len(rows))]
		res, err := tg.ApplyBatch(context.Background(), loadBatch(1, seq, s, part, lo), writer.ApplyOptions{})
		if err != nil || res.Loaded || res.Written != len(part) {
			t.Fatalf("upsert apply %d: %+v %v", seq, res, err)
		}
		lo = schema.Row{part[len(part)-1][0]}
	}
	return db
}

func sameColumns(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d differs:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}

// A bulk batch into an empty range goes to LOAD DATA as it came and
// stores every value of every type, and its hash, as the upsert does. Into
// a range that has rows it is parsed back and compared row by row: only
// what changed is written, and rows it lacks are delete candidates.
func TestBulkFormStoresWhatTheUpsertStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loadSchema()
	all := loadRows(200)
	db, tg := openTarget(t, "bulkform")
	res, err := tg.ApplyBatch(ctx, bulkBatch(t, 1, 1, s, all, nil), writer.ApplyOptions{})
	if err != nil || !res.Loaded || res.Written != len(all) {
		t.Fatalf("bulk apply into an empty table: %+v %v; want all %d rows loaded", res, err, len(all))
	}
	sameColumns(t, everyColumn(t, db, s), everyColumn(t, upsertedCopy(t, s, all), s))

	// The next run: ten rows changed (to values with every escape), five
	// gone from the source.
	next := make([]schema.Row, 0, len(all))
	changed := map[string]bool{}
	for i, r := range all {
		if i%40 == 7 {
			continue
		}
		if i%20 == 11 {
			r = append(schema.Row(nil), r...)
			r[5] = []byte(fmt.Sprintf(" \t\\N\n%d\r\x00\\", i))
			changed[string(r[0])] = true
		}
		next = append(next, r)
	}
	res, err = tg.ApplyBatch(ctx, bulkBatch(t, 2, 1, s, next, nil), writer.ApplyOptions{})
	if err != nil || res.Loaded || res.Written != len(changed) || res.Unchanged != len(next)-len(changed) || res.Candidates != 5 {
		t.Fatalf("bulk apply over the same range: %+v %v; want %d written, %d unchanged, 5 candidates", res, err, len(changed), len(next)-len(changed))
	}
	for id := range changed {
		got := db.Rows(t, "SELECT HEX(s) FROM items WHERE id = "+id)
		want := strings.ToUpper(fmt.Sprintf("%x", fmt.Sprintf(" \t\\N\n%s\r\x00\\", fmt.Sprint(mustAtoi(t, id)-1))))
		if len(got) != 1 || got[0] != `"`+want+`"` {
			t.Errorf("row %s: s is %v, want %s", id, got, want)
		}
	}
}

// A bulk batch whose keys are all new, over a range that holds other
// rows, is compared too: those rows are its delete candidates.
func TestBulkFormOverOtherRowsFindsThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loadSchema()
	all := loadRows(160)
	_, tg := openTarget(t, "bulkother")
	if res, err := tg.ApplyBatch(ctx, bulkBatch(t, 1, 1, s, all[:100], nil), writer.ApplyOptions{}); err != nil || !res.Loaded {
		t.Fatalf("first run: %+v %v", res, err)
	}
	res, err := tg.ApplyBatch(ctx, bulkBatch(t, 2, 1, s, all[100:], nil), writer.ApplyOptions{})
	if err != nil || res.Loaded || res.Written != 60 || res.Candidates != 100 {
		t.Fatalf("new keys over a range of 100 others: %+v %v; want 60 written and 100 candidates", res, err)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A bulk batch into a table Sisporta did not make (no LOAD DATA into
// it) is parsed back and upserted: the same rows as ever.
func TestBulkFormIntoATableSisportaDidNotMake(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loadSchema()
	all := loadRows(60)
	db, tg := openTarget(t, "bulkmade")
	db.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, u BIGINT UNSIGNED, d DECIMAL(20,6), f FLOAT, g DOUBLE, s VARCHAR(100), c CHAR(20),"+
		" l VARCHAR(50) CHARACTER SET latin1, b VARBINARY(300), bn BINARY(4), bl BLOB, dt DATETIME(6), da DATE, ti TIME(3), y YEAR,"+
		" e ENUM('a','b','c d',''), st SET('x','y','z'), bt BIT(10), j LONGTEXT, bo TINYINT(1))")
	res, err := tg.ApplyBatch(ctx, bulkBatch(t, 1, 1, s, all, nil), writer.ApplyOptions{})
	if err != nil || res.Loaded || res.Written != len(all) {
		t.Fatalf("apply into a table Sisporta did not make: %+v %v", res, err)
	}
	sameColumns(t, everyColumn(t, db, s), everyColumn(t, upsertedCopy(t, s, all), s))
}

// A bulk batch that is not what it says (rows cut short, a count that
// differs) fails as a whole and writes nothing, into an empty range or not.
func TestBulkFormThatIsNotWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loadSchema()
	all := loadRows(100)
	db, tg := openTarget(t, "bulkbad")

	short := bulkBatch(t, 1, 1, s, all, nil)
	short.BulkRows++ // one more than there are
	if res, err := tg.ApplyBatch(ctx, short, writer.ApplyOptions{}); err == nil || !strings.Contains(err.Error(), "the batch says 101") {
		t.Fatalf("a bulk batch one row short: %+v %v; want an error", res, err)
	}
	if n := db.Count(t, "items", ""); n != 0 {
		t.Fatalf("%d rows written by a failed batch", n)
	}
	cut := bulkBatch(t, 1, 1, s, all, nil)
	cut.Bulk = cut.Bulk[:len(cut.Bulk)-30]
	if res, err := tg.ApplyBatch(ctx, cut, writer.ApplyOptions{}); err == nil {
		t.Fatalf("a bulk batch cut mid-row: %+v; want an error", res)
	}
	if n := db.Count(t, "items", ""); n != 0 {
		t.Fatalf("%d rows written by a failed batch", n)
	}
	if res, err := tg.ApplyBatch(ctx, bulkBatch(t, 1, 1, s, all, nil), writer.ApplyOptions{}); err != nil || !res.Loaded || res.Written != 100 {
		t.Fatalf("the whole batch: %+v %v", res, err)
	}
	cut = bulkBatch(t, 2, 1, s, all, nil)
	cut.Bulk = cut.Bulk[:len(cut.Bulk)-30]
	if res, err := tg.ApplyBatch(ctx, cut, writer.ApplyOptions{}); err == nil {
		t.Fatalf("a bulk batch cut mid-row over rows: %+v; want an error", res)
	}
	if got := db.Count(t, "_sisporta_ledger", "run_id = 2"); got != 0 {
		t.Fatalf("the failed batch is in the ledger")
	}
}

// Values larger than a packet (a 12 MiB blob, hex in the bulk form; 7 MiB
// of backslashes, escaped to 14) load as any other, or fall back to the
// upsert, which sends such a row alone: either way they arrive whole.
func TestBulkFormCarriesValuesLargerThanAPacket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tg := openTarget(t, "bulkbig")
	s := schema.Table{Columns: []schema.Column{
		{Name: "id", Type: "INT", Kind: schema.KindInt, Key: 1},
		{Name: "b", Type: "LONGBLOB", Kind: schema.KindBytes, Nullable: true},
		{Name: "t", Type: "LONGTEXT", Kind: schema.KindString, Nullable: true},
	}}
	var rows []schema.Row
	for i := 1; i <= 40; i++ {
		rows = append(rows, schema.Row{[]byte(fmt.Sprint(i)), []byte{byte(i)}, []byte("x")})
	}
	rows[10][1] = []byte(strings.Repeat("\x00\xff\t\n", 3<<20))
	rows[20][2] = []byte(strings.Repeat(`\`, 7<<20))
	res, err := tg.ApplyBatch(ctx, bulkBatch(t, 1, 1, s, rows, nil), writer.ApplyOptions{})
	if err != nil || res.Written != 40 {
		t.Fatalf("a bulk batch with values larger than a packet: %+v %v", res, err)
	}
	t.Logf("loaded in bulk: %v", res.Loaded)
	got := db.Rows(t, "SELECT id, LENGTH(b), MD5(b), LENGTH(t), MD5(t) FROM items WHERE id IN (11, 21) ORDER BY id")
	want := []string{
		fmt.Sprintf(`"11"|"%d"|"%x"|"1"|"%x"`, 12<<20, md5.Sum(rows[10][1]), md5.Sum([]byte("x"))),
		fmt.Sprintf(`"21"|"1"|"%x"|"%d"|"%x"`, md5.Sum([]byte{21}), 7<<20, md5.Sum(rows[20][2])),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
