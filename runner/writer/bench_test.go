package writer

import (
	"fmt"
	"testing"

	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
)

func benchRows() ([]schema.Column, []schema.Row) {
	cols := []schema.Column{{Name: "id", Type: "INT", Kind: schema.KindInt}, {Name: "title", Type: "VARCHAR(100)", Kind: schema.KindString},
		{Name: "amount", Type: "DECIMAL(10,2)", Kind: schema.KindDecimal, Scale: 2}, {Name: "created", Type: "DATETIME(6)", Kind: schema.KindDateTime, Scale: 6},
		{Name: "note", Type: "VARCHAR(100)", Kind: schema.KindString}}
	var rows []schema.Row
	for i := 0; i < 1000; i++ {
		rows = append(rows, schema.Row{[]byte(fmt.Sprint(i)), []byte(fmt.Sprintf("Garage door order %d", i)), []byte("1234.56"),
			[]byte("2024-01-01 00:00:00.000000"), []byte("it's a \"note\"")})
	}
	return cols, rows
}

// BenchmarkRowHash measures hashing 1000 rows, as one batch compares them.
func BenchmarkRowHash(b *testing.B) {
	cols, rows := benchRows()
	h := schema.NewHasher(cols)
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range rows {
			_ = h.Sum(r)
		}
	}
}

// BenchmarkRenderUpsert measures rendering 1000 rows as SQL literals.
func BenchmarkRenderUpsert(b *testing.B) {
	cols, rows := benchRows()
	codecs, err := mysqltype.Codecs(cols)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 256<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for _, r := range rows {
			for j, v := range r {
				buf = codecs[j].AppendLiteral(buf, v)
			}
		}
	}
}

// BenchmarkEncodeLoad measures rendering 1000 rows as LOAD DATA's input,
// what a worker does for each batch of a full copy.
func BenchmarkEncodeLoad(b *testing.B) {
	cols, rows := benchRows()
	codecs, err := mysqltype.Codecs(cols)
	if err != nil {
		b.Fatal(err)
	}
	sh := &shape{cols: cols, codecs: codecs}
	hashes := make([]uint64, len(rows))
	b.ReportAllocs()
	for b.Loop() {
		buf := encodeLoad(sh, rows, hashes)
		loadBufs.Put(buf)
	}
}
