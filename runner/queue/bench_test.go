package queue

import (
	"fmt"
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
)

func benchBatch() *Batch {
	s := schema.Table{Columns: []schema.Column{
		{Name: "id", Kind: schema.KindInt, Key: 1}, {Name: "customer", Kind: schema.KindInt}, {Name: "status", Kind: schema.KindString},
		{Name: "title", Kind: schema.KindString}, {Name: "amount", Kind: schema.KindDecimal}, {Name: "qty", Kind: schema.KindInt},
		{Name: "created", Kind: schema.KindDateTime}, {Name: "updated", Kind: schema.KindDateTime}, {Name: "note", Kind: schema.KindString},
		{Name: "flags", Kind: schema.KindInt}}}
	b := &Batch{Pipeline: "bench/p", Run: 1, Entity: "orders", Table: "orders", Schema: s, Ranged: true}
	for i := 0; i < 1000; i++ {
		b.Rows = append(b.Rows, schema.Row{[]byte(fmt.Sprint(i)), []byte("4242"), []byte("paid"), []byte(fmt.Sprintf("Garage door order %d", i)),
			[]byte("1234.56"), []byte("7"), []byte("2024-01-01 00:00:00.000000"), nil, []byte("note 0123456789abcdef0123456789abcdef"), []byte("1")})
	}
	return b
}

// BenchmarkEncodeBatch measures the extractor's encoding of a 1000-row batch.
func BenchmarkEncodeBatch(bm *testing.B) {
	b := benchBatch()
	bm.ReportAllocs()
	for bm.Loop() {
		p, err := EncodeBatch(b)
		if err != nil {
			bm.Fatal(err)
		}
		bm.SetBytes(int64(len(p)))
	}
}

// BenchmarkDecodeBatch measures the worker's decoding of a 1000-row batch.
func BenchmarkDecodeBatch(bm *testing.B) {
	p, err := EncodeBatch(benchBatch())
	if err != nil {
		bm.Fatal(err)
	}
	bm.SetBytes(int64(len(p)))
	bm.ReportAllocs()
	for bm.Loop() {
		if _, err := DecodeBatch(p); err != nil {
			bm.Fatal(err)
		}
	}
}
