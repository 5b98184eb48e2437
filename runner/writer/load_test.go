package writer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"
)

// loadSchema has a column of every type LOAD DATA could read otherwise
// than an INSERT literal: escapes, NULLs, bytes, raw latin1 text, BIT,
// ENUM, SET, JSON, dates and times, floats.
func loadSchema() schema.Table {
	return schema.Table{Columns: []schema.Column{
		{Name: "id", Type: "INT", Kind: schema.KindInt, Key: 1},
		{Name: "u", Type: "BIGINT UNSIGNED", Kind: schema.KindInt, Nullable: true},
		{Name: "d", Type: "DECIMAL(20,6)", Kind: schema.KindDecimal, Scale: 6, Nullable: true},
		{Name: "f", Type: "FLOAT", Kind: schema.KindFloat, Scale: 32, Nullable: true},
		{Name: "g", Type: "DOUBLE", Kind: schema.KindFloat, Scale: 64, Nullable: true},
		{Name: "s", Type: "VARCHAR(100)", Kind: schema.KindString, Nullable: true},
		{Name: "c", Type: "CHAR(20)", Kind: schema.KindString, Nullable: true, TrimRight: true},
		{Name: "l", Type: "VARCHAR(50) CHARACTER SET latin1 COLLATE latin1_swedish_ci", Kind: schema.KindString, Nullable: true},
		{Name: "b", Type: "VARBINARY(300)", Kind: schema.KindBytes, Nullable: true},
		{Name: "bn", Type: "BINARY(4)", Kind: schema.KindBytes, Nullable: true},
		{Name: "bl", Type: "BLOB", Kind: schema.KindBytes, Nullable: true},
		{Name: "dt", Type: "DATETIME(6)", Kind: schema.KindDateTime, Scale: 6, Nullable: true},
		{Name: "da", Type: "DATE", Kind: schema.KindDate, Nullable: true},
		{Name: "ti", Type: "TIME(3)", Kind: schema.KindTime, Scale: 3, Nullable: true},
		{Name: "y", Type: "YEAR", Kind: schema.KindInt, Nullable: true},
		{Name: "e", Type: "ENUM('a','b','c d','')", Kind: schema.KindString, Nullable: true},
		{Name: "st", Type: "SET('x','y','z')", Kind: schema.KindString, Nullable: true},
		{Name: "bt", Type: "BIT(10)", Kind: schema.KindInt, Nullable: true},
		{Name: "j", Type: "LONGTEXT", Kind: schema.KindString, Nullable: true},
		{Name: "bo", Type: "TINYINT(1)", Kind: schema.KindBool, Nullable: true},
	}}
}

// loadRows makes n rows of nasty values, a NULL in every nullable column
// of every seventh row.
func loadRows(n int) []schema.Row {
	texts := []string{"plain", "tab\there", "new\nline", "cr\rlf", `back\slash`, "nul\x00byte", `\N`, "N", "", "emoji 🚪 日本", "quote ' \" `", "\\", "trail  "}
	var out []schema.Row
	for i := 0; i < n; i++ {
		t := texts[i%len(texts)]
		bytes := []byte{byte(i), 0, '\t', '\n', '\\', 'N', 0xff, 0xe0, '\t', 0x80, byte(255 - i)}
		year := fmt.Sprint(1901 + i)
		if i%10 == 5 {
			year = "0" // 0000: LOAD DATA reads the text "0" as the year 2000
		}
		r := schema.Row{
			[]byte(fmt.Sprint(i + 1)),
			[]byte(fmt.Sprint(uint64(18446744073709551615) - uint64(i))),
			[]byte(fmt.Sprintf("-%d.%06d", i*1000003, i)),
			[]byte([]string{"0.10000000149011612", "-0", "3.4028234663852886e+38", "1.401298464324817e-45"}[i%4]),
			[]byte([]string{"0.1", "-0", "1.7976931348623157e+308", "5e-324", "1e-300"}[i%5]),
			[]byte(t),
			[]byte(strings.TrimRight(t, " ")),
			{'l', 0xe9, 't', 0xe9, '\t', '\\'},
			bytes,
			[]byte{0, 0, byte(i), 0},
			append(bytes, bytes...),
			[]byte(fmt.Sprintf("20%02d-02-29 23:59:59.%06d", (i*4)%100, i)),
			[]byte("0001-01-01"),
			[]byte([]string{"-838:59:59.000", "838:59:59.999", "00:00:00.001"}[i%3]),
			[]byte(year),
			[]byte([]string{"a", "b", "c d", ""}[i%4]),
			[]byte([]string{"", "x", "x,z", "x,y,z"}[i%4]),
			[]byte(fmt.Sprint(i * 16 % 1024)),
			[]byte(fmt.Sprintf(`{"a": [%d, "\t"], "b": null}`, i)),
			[]byte(fmt.Sprint(i % 2)),
		}
		if i%7 == 3 {
			for j := 1; j < len(r); j++ {
				r[j] = nil
			}
		}
		out = append(out, r)
	}
	return out
}

func loadBatch(run int64, seq int, s schema.Table, rows []schema.Row, lo schema.Row) *writer.Batch {
	hashes := make([]uint64, len(rows))
	h := schema.NewHasher(s.Columns)
	for i, r := range rows {
		hashes[i] = h.Sum(r)
	}
	d := schema.DigestOf(hashes)
	b := &writer.Batch{Pipeline: "t/p", Run: run, Seq: seq, Entity: "items", Table: "items", Schema: s, Ranged: true, Rows: rows, Digest: &d, Lo: lo}
	if len(rows) > 0 {
		b.Hi = schema.Row{rows[len(rows)-1][0]}
	}
	return b
}

// everyColumn reads every column of every row as hex, NULL as NULL.
func everyColumn(t *testing.T, db *testenv.DB, s schema.Table) []string {
	var cols []string
	for _, c := range s.Columns {
		cols = append(cols, fmt.Sprintf("IFNULL(HEX(`%s`), 'NULL')", c.Name))
	}
	cols = append(cols, "_sisporta_hash")
	return db.Rows(t, "SELECT "+strings.Join(cols, ", ")+" FROM items")
}

// A range the target holds nothing of is loaded with LOAD DATA, and every
// value of every type comes out as the upsert writes it.
func TestBulkLoadWritesWhatTheUpsertWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loadSchema()
	all := loadRows(200)

	bulkDB := testenv.NewDB(t, "bulk")
	bulk, err := writer.Open(ctx, bulkDB.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer bulk.Close()
	res, err := bulk.ApplyBatch(ctx, loadBatch(1, 1, s, all, nil), writer.ApplyOptions{})
	if err != nil || !res.Loaded || res.Written != len(all) {
		t.Fatalf("bulk apply: %+v %v", res, err)
	}

	// The same rows in batches too small for LOAD DATA: the upsert path.
	upsertDB := testenv.NewDB(t, "upsert")
	up, err := writer.Open(ctx, upsertDB.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	var lo schema.Row
	for i, seq := 0, 1; i < len(all); i, seq = i+20, seq+1 {
		part := all[i:min(i+20, len(all))]
		res, err := up.ApplyBatch(ctx, loadBatch(1, seq, s, part, lo), writer.ApplyOptions{})
		if err != nil || res.Loaded || res.Written != len(part) {
			t.Fatalf("upsert apply %d: %+v %v", seq, res, err)
		}
		lo = schema.Row{part[len(part)-1][0]}
	}

	got, want := everyColumn(t, bulkDB, s), everyColumn(t, upsertDB, s)
	if len(got) != len(all) {
		t.Fatalf("bulk load wrote %d rows, want %d", len(got), len(all))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d differs:\n bulk   %s\n upsert %s", i, got[i], want[i])
		}
	}
	// And a re-run finds every row unchanged by its hash.
	again, err := bulk.ApplyBatch(ctx, loadBatch(2, 1, s, all, nil), writer.ApplyOptions{})
	if err != nil || again.Unchanged != len(all) || again.Written != 0 {
		t.Fatalf("re-run: %+v %v", again, err)
	}
}

// LOAD DATA LOCAL turns errors into warnings: a row it would skip (a key
// the target's collation calls equal to another) rolls the load back and
// the upsert writes the batch, as it always did; a batch in the bulk form
// is parsed back for it (its keys start with a space: data, not padding).
func TestBulkLoadFallsBackOnWarnings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := schema.Table{Columns: []schema.Column{
		{Name: "code", Type: "VARCHAR(10)", Kind: schema.KindString, Key: 1},
		{Name: "n", Type: "INT", Kind: schema.KindInt},
	}}
	for _, form := range []string{"rows", "bulk"} {
		db, tg := openTarget(t, "bulkdup")
		var rows []schema.Row
		for i := range 40 {
			rows = append(rows, schema.Row{[]byte(fmt.Sprintf(" k%02d", i)), []byte(fmt.Sprint(i))})
		}
		rows[39] = schema.Row{[]byte(" K38"), []byte("39")} // ' k38' to a case-insensitive key
		b := loadBatch(1, 1, s, rows, nil)
		if form == "bulk" {
			b = bulkBatch(t, 1, 1, s, rows, nil)
		}
		res, err := tg.ApplyBatch(ctx, b, writer.ApplyOptions{})
		if err != nil || res.Loaded || res.Written != 40 {
			t.Fatalf("%s: apply: %+v %v", form, res, err)
		}
		if got := db.Rows(t, "SELECT code, n FROM items WHERE code = ' k38'"); fmt.Sprint(got) != `[" K38"|"39"]` {
			t.Errorf("%s: the upsert's answer to two keys the target calls equal: %v", form, got)
		}
	}
}

// A server that refuses LOCAL loads (MySQL 8's default) gets upserts, and
// is not asked again.
func TestBulkLoadRefusedByTheServer(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDB(t, "bulkoff")
	var was string
	if err := db.QueryRow("SELECT @@GLOBAL.local_infile").Scan(&was); err != nil {
		t.Fatal(err)
	}
	db.Exec(t, "SET GLOBAL local_infile = 0")
	t.Cleanup(func() { _, _ = db.DB.Exec("SET GLOBAL local_infile = " + was) })
	tg, err := writer.Open(ctx, db.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	s := loadSchema()
	all := loadRows(130)
	res, err := tg.ApplyBatch(ctx, loadBatch(1, 1, s, all[:50], nil), writer.ApplyOptions{})
	if err != nil || res.Loaded || res.Written != 50 {
		t.Fatalf("apply with local_infile off: %+v %v", res, err)
	}
	db.Exec(t, "SET GLOBAL local_infile = "+was)
	res, err = tg.ApplyBatch(ctx, loadBatch(1, 2, s, all[50:100], schema.Row{all[49][0]}), writer.ApplyOptions{})
	if err != nil || res.Loaded || res.Written != 50 {
		t.Fatalf("the next batch asked again: %+v %v", res, err)
	}
	// A batch in the bulk form is parsed back and upserted.
	res, err = tg.ApplyBatch(ctx, bulkBatch(t, 1, 3, s, all[100:], schema.Row{all[99][0]}), writer.ApplyOptions{})
	if err != nil || res.Loaded || res.Written != 30 {
		t.Fatalf("a bulk batch: %+v %v", res, err)
	}
	if n := db.Count(t, "items", ""); n != 130 {
		t.Errorf("%d rows", n)
	}
}

// A worker that finds the table another worker has just made, before that
// one claimed it as Sisporta's, loads into it in bulk once the claim
// lands: the answer "not Sisporta's" is asked again for a while, not kept
// for the life of the process. Two writers stand for two worker pods.
func TestTableMadeByAnotherWorkerIsLoadedIntoOnceClaimed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loadSchema()
	all := loadRows(120)
	db := testenv.NewDB(t, "claim")
	maker, err := writer.Open(ctx, db.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer maker.Close()
	if res, err := maker.ApplyBatch(ctx, loadBatch(1, 1, s, all[:40], nil), writer.ApplyOptions{}); err != nil || !res.Loaded {
		t.Fatalf("the maker's batch: %+v %v", res, err)
	}
	// The moment between making the table and claiming it.
	db.Exec(t, "UPDATE _sisporta_tables SET created_by_sisporta = 0")
	other, err := writer.Open(ctx, db.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if res, err := other.ApplyBatch(ctx, loadBatch(1, 2, s, all[40:80], schema.Row{all[39][0]}), writer.ApplyOptions{}); err != nil || res.Loaded {
		t.Fatalf("into a table not (yet) Sisporta's: %+v %v; want the upsert", res, err)
	}
	db.Exec(t, "UPDATE _sisporta_tables SET created_by_sisporta = 1") // the claim lands
	if res, err := other.ApplyBatch(ctx, loadBatch(1, 3, s, all[80:], schema.Row{all[79][0]}), writer.ApplyOptions{}); err != nil || !res.Loaded || res.Written != 40 {
		t.Fatalf("once the table is claimed as Sisporta's: %+v %v; want a bulk load of 40 rows", res, err)
	}
	if n := db.Count(t, "items", ""); n != 120 {
		t.Fatalf("%d rows in the target, want 120", n)
	}
}
