package writer

import (
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
)

func TestRowHashTellsApartWhatMirrorsConfuse(t *testing.T) {
	cols := []schema.Column{{Name: "a"}, {Name: "b"}}
	h := func(r schema.Row) uint64 { return schema.NewHasher(cols).Sum(r) }
	distinct := []schema.Row{
		{nil, []byte("x")},
		{[]byte{}, []byte("x")},
		{[]byte("x"), nil},
		{[]byte("x"), []byte{}},
		{[]byte("ab"), []byte("c")},
		{[]byte("a"), []byte("bc")},
	}
	seen := map[uint64]int{}
	for i, r := range distinct {
		if j, ok := seen[h(r)]; ok {
			t.Errorf("rows %d and %d hash alike", i, j)
		}
		seen[h(r)] = i
	}
	if h(distinct[0]) == schema.NewHasher([]schema.Column{{Name: "a"}, {Name: "c"}}).Sum(distinct[0]) {
		t.Error("a renamed column must change the hash (the mapping changed: rewrite)")
	}
	hs := schema.NewHasher(cols)
	if first := hs.Sum(distinct[4]); first != h(distinct[4]) || hs.Sum(distinct[4]) != first {
		t.Error("a reused hasher must give the same sums")
	}
}

func TestKeyStringRoundTrip(t *testing.T) {
	k := schema.Row{[]byte("a:b"), []byte(""), []byte("12")}
	got, err := ParseKeyString(KeyString(k))
	if err != nil || len(got) != 3 || string(got[0]) != "a:b" || len(got[1]) != 0 || string(got[2]) != "12" {
		t.Fatalf("%q %v", got, err)
	}
	if KeyString(schema.Row{[]byte("ab"), []byte("c")}) == KeyString(schema.Row{[]byte("a"), []byte("bc")}) {
		t.Error("composite keys must not collide")
	}
}
