package writer_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"
)

// sqlServerGUIDLess orders canonical GUID texts as SQL Server orders
// uniqueidentifier values, written from the .NET definition independently
// of the target's code: Guid.ToByteArray() (first three groups
// little-endian), compared at byte indexes 10..15, 8, 9, 6, 7, 4, 5, 0..3.
func sqlServerGUIDLess(a, b string) bool {
	toBytes := func(s string) []byte {
		h, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
		if err != nil || len(h) != 16 {
			panic(s)
		}
		return []byte{h[3], h[2], h[1], h[0], h[5], h[4], h[7], h[6], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]}
	}
	x, y := toBytes(a), toBytes(b)
	for _, i := range []int{10, 11, 12, 13, 14, 15, 8, 9, 6, 7, 4, 5, 0, 1, 2, 3} {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

func randomGUID(r *rand.Rand) string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	h := strings.ToUpper(hex.EncodeToString(b))
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// guidRows are a "source" table keyed by (grp,) id, in the source's order.
type guidRows struct {
	composite bool
	rows      []schema.Row
}

func (g *guidRows) schema(order schema.KeyOrder) schema.Table {
	id := schema.Column{Name: "id", Type: "CHAR(36)", Kind: schema.KindUUID, Key: 1, Order: order}
	v := schema.Column{Name: "v", Type: "INT", Kind: schema.KindInt, Nullable: true}
	if !g.composite {
		return schema.Table{Columns: []schema.Column{id, v}}
	}
	id.Key = 2
	return schema.Table{Columns: []schema.Column{{Name: "grp", Type: "INT", Kind: schema.KindInt, Key: 1}, id, v}}
}

func (g *guidRows) key(r schema.Row) schema.Row {
	if g.composite {
		return schema.Row{r[0], r[1]}
	}
	return schema.Row{r[0]}
}

func (g *guidRows) keyString(r schema.Row) string { return writer.KeyString(g.key(r)) }

func (g *guidRows) sort() {
	idAt := 0
	if g.composite {
		idAt = 1
	}
	slices.SortFunc(g.rows, func(a, b schema.Row) int {
		if g.composite {
			if c := bytes.Compare(a[0], b[0]); c != 0 { // one-digit groups: text order is number order
				return c
			}
		}
		switch {
		case sqlServerGUIDLess(string(a[idAt]), string(b[idAt])):
			return -1
		case sqlServerGUIDLess(string(b[idAt]), string(a[idAt])):
			return 1
		}
		return 0
	})
}

// batches cuts the rows into ranged batches as the extractor does: each
// holds every row of (previous batch's last key, its own last key], the
// first starts at nil and the last ends at nil, each with its digest.
func (g *guidRows) batches(sch schema.Table, run int64, size int, digest bool) []*writer.Batch {
	var out []*writer.Batch
	var lo schema.Row
	h := schema.NewHasher(sch.Columns)
	for start := 0; start < len(g.rows); start += size {
		end := min(start+size, len(g.rows))
		rows := g.rows[start:end]
		b := &writer.Batch{Pipeline: "t/p", Run: run, Entity: "items", Table: "items", Seq: len(out) + 1, Schema: sch,
			Ranged: true, Rows: rows, Lo: lo}
		if end < len(g.rows) {
			b.Hi = g.key(rows[len(rows)-1])
		}
		if digest {
			hashes := make([]uint64, len(rows))
			for i, r := range rows {
				hashes[i] = h.Sum(r)
			}
			d := schema.DigestOf(hashes)
			b.Digest = &d
		}
		lo = b.Hi
		out = append(out, b)
	}
	return out
}

type runFigures struct {
	rangeRows, candidates, written, unchanged, digestMatched int
	took                                                     time.Duration
}

func (f runFigures) String() string {
	return fmt.Sprintf("target rows read %d, candidates %d, written %d, unchanged %d, settled by digest %d batches, %v",
		f.rangeRows, f.candidates, f.written, f.unchanged, f.digestMatched, f.took.Round(time.Millisecond))
}

func applyAll(t *testing.T, tg *writer.Target, bs []*writer.Batch) runFigures {
	t.Helper()
	var f runFigures
	start := time.Now()
	for _, b := range bs {
		res, err := tg.ApplyBatch(context.Background(), b, writer.ApplyOptions{})
		if err != nil {
			t.Fatalf("batch %d: %v", b.Seq, err)
		}
		f.rangeRows += res.RangeRows
		f.candidates += res.Candidates
		f.written += res.Written
		f.unchanged += res.Unchanged
		if res.DigestMatched {
			f.digestMatched++
		}
	}
	f.took = time.Since(start)
	return f
}

// SQL Server orders uniqueidentifier keys by their last bytes first; the
// extractor cuts its batches in that order. The target must read each
// batch's range (Lo, Hi] in the same order: then a run over rows the
// target already holds reads each target row once and finds no delete
// candidates, where MySQL's text order made every range span a large part
// of the table (O(N²/batch) rows read, most of them candidates the source
// was then asked about one by one).
func TestGUIDKeysAreReadInTheSourcesOrder(t *testing.T) {
	for _, c := range []struct {
		name      string
		composite bool
		n, batch  int
		// existing: the table exists without the order column (created
		// before the source said how it orders GUIDs, or by someone else).
		existing string
	}{
		{name: "guid key", n: 3000, batch: 200},
		{name: "composite key", composite: true, n: 1500, batch: 100},
		{name: "table created earlier", n: 2000, batch: 200, existing: "created"},
		{name: "table made by someone else", n: 2000, batch: 200, existing: "foreign"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, tg := openTarget(t, "tgt")
			r := rand.New(rand.NewPCG(uint64(c.n), 7))
			g := &guidRows{composite: c.composite}
			for i := 0; i < c.n; i++ {
				row := schema.Row{[]byte(randomGUID(r)), []byte(fmt.Sprint(i))}
				if c.composite {
					row = append(schema.Row{[]byte(fmt.Sprint(i % 3))}, row...)
				}
				g.rows = append(g.rows, row)
			}
			g.sort()
			sch := g.schema(schema.OrderSQLServerGUID)
			run := int64(1)
			switch c.existing {
			case "created":
				f := applyAll(t, tg, g.batches(g.schema(""), run, c.batch, true))
				t.Logf("run %d, without the source's order: %v", run, f)
				run++
			case "foreign":
				db.Exec(t, "CREATE TABLE items (id CHAR(36) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY, v INT NULL)")
			}

			// First run of an empty (or order-less) target.
			f := applyAll(t, tg, g.batches(sch, run, c.batch, true))
			t.Logf("run %d (first with the source's order): %v", run, f)
			if c.existing != "created" && f.candidates != 0 {
				t.Errorf("run %d: %d delete candidates while loading rows the source all has", run, f.candidates)
			}
			if got := db.Count(t, "items", ""); got != int64(c.n) {
				t.Fatalf("target holds %d rows, want %d", got, c.n)
			}
			if !c.composite {
				// The order column's SQL sorts as SQL Server does.
				rows, err := db.Query("SELECT id FROM items ORDER BY _sisporta_order_1")
				if err != nil {
					t.Fatal(err)
				}
				i := 0
				for ; rows.Next(); i++ {
					var id string
					if err := rows.Scan(&id); err != nil {
						t.Fatal(err)
					}
					if id != string(g.rows[i][0]) {
						t.Fatalf("row %d in the order column's order is %s, SQL Server's is %s", i, id, g.rows[i][0])
					}
				}
				if err := rows.Close(); err != nil || i != c.n {
					t.Fatalf("read %d rows in order: %v", i, err)
				}
			}
			run++

			// The same rows again, as the extractor sends them (with digests).
			f = applyAll(t, tg, g.batches(sch, run, c.batch, true))
			t.Logf("run %d (same rows, digests): %v", run, f)
			if f.candidates != 0 || f.rangeRows > c.n || f.unchanged != c.n || f.written != 0 {
				t.Errorf("run %d: %v; want no candidates, nothing written and at most %d target rows read", run, f, c.n)
			}
			run++

			// Again without digests: every range is read row by row.
			f = applyAll(t, tg, g.batches(sch, run, c.batch, false))
			t.Logf("run %d (same rows, no digests): %v", run, f)
			if f.candidates != 0 || f.rangeRows != c.n || f.unchanged != c.n {
				t.Errorf("run %d: %v; want no candidates and exactly %d target rows read", run, f, c.n)
			}
			run++

			// The source loses a handful of rows: exactly those become
			// candidates.
			gone := map[string]bool{}
			for len(gone) < 7 {
				gone[g.keyString(g.rows[r.IntN(len(g.rows))])] = true
			}
			kept := &guidRows{composite: c.composite}
			for _, row := range g.rows {
				if !gone[g.keyString(row)] {
					kept.rows = append(kept.rows, row)
				}
			}
			f = applyAll(t, tg, kept.batches(sch, run, c.batch, true))
			t.Logf("run %d (7 rows gone from the source): %v", run, f)
			var got, want []string
			for _, k := range candidates(t, db, run) {
				got = append(got, writer.KeyString(k))
			}
			for k := range gone {
				want = append(want, k)
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("candidates %q, want the %d rows the source lost %q", got, len(want), want)
			}
			if f.rangeRows > 2*c.n {
				t.Errorf("run %d read %d target rows for %d rows", run, f.rangeRows, c.n)
			}
		})
	}
}

// The order column is Sisporta's, invisible to SELECT *; one that computes
// another column's order (a key renamed since) is refused, not trusted.
func TestGUIDOrderColumnIsChecked(t *testing.T) {
	ctx := context.Background()
	db, tg := openTarget(t, "tgt")
	g := &guidRows{rows: []schema.Row{{[]byte("6F9619FF-8B86-D011-B42D-00C04FC964FF"), []byte("1")}}}
	applyAll(t, tg, g.batches(g.schema(schema.OrderSQLServerGUID), 1, 10, true))
	if got := fmt.Sprint(db.Rows(t, "SELECT * FROM items")); got != `["6F9619FF-8B86-D011-B42D-00C04FC964FF"|"1"]` {
		t.Errorf("SELECT * shows %s", got)
	}
	if got := fmt.Sprint(db.Rows(t, "SELECT HEX(_sisporta_order_1) FROM items")); got != `["00C04FC964FFB42D11D0868BFF19966F"]` {
		t.Errorf("order column holds %s", got)
	}

	other := testenv.NewDB(t, "tgt")
	other.Exec(t, "CREATE TABLE items (id CHAR(36) NOT NULL PRIMARY KEY, old VARCHAR(36) NULL, v INT NULL, "+
		"_sisporta_order_1 BINARY(16) AS (UNHEX(REPLACE(old, '-', ''))) STORED)")
	tg2, err := writer.Open(ctx, other.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer tg2.Close()
	_, err = tg2.ApplyBatch(ctx, g.batches(g.schema(schema.OrderSQLServerGUID), 1, 10, true)[0], writer.ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "is not the order of key column id") {
		t.Fatalf("got %v, want the foreign order column refused", err)
	}
}
