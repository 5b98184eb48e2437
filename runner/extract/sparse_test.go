package extract

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
)

// planSparse sends exactly the source rows the target lacks or holds
// otherwise, with parts that cover every live target row the source lost
// (each within the part of the row after it, or a part up to the range's
// end), and wants the digest of the source's rows and the lost ones.
func TestPlanSparse(t *testing.T) {
	row := func(k string, h uint64) (schema.Row, uint64) { return schema.Row{[]byte(k), []byte("v")}, h }
	keyOf := func(r schema.Row) schema.Row { return r[:1] }
	kh := func(k string, h uint64) writer.KeyHash {
		return writer.KeyHash{Key: schema.Row{[]byte(k)}, Hash: h, HasHash: true}
	}
	key := func(k string) schema.Row {
		if k == "" {
			return nil
		}
		return schema.Row{[]byte(k)}
	}
	type src struct {
		k string
		h uint64
	}
	for _, c := range []struct {
		name   string
		source []src
		target []writer.KeyHash
		lo, hi string
		parts  string // "lo-hi:n", comma separated
		lost   []uint64
		ok     bool
	}{
		{"all the same", []src{{"1", 1}, {"2", 2}}, []writer.KeyHash{kh("1", 1), kh("2", 2)}, "", "2", "", nil, true},
		{"one changed", []src{{"1", 1}, {"2", 2}, {"3", 3}}, []writer.KeyHash{kh("1", 1), kh("2", 9), kh("3", 3)}, "0", "3", "1-2:1", nil, true},
		{"new rows, first and last", []src{{"1", 1}, {"2", 2}, {"3", 3}}, []writer.KeyHash{kh("2", 2)}, "", "", "-1:1,2-3:1", nil, true},
		{"lost in the middle joins the next row's part", []src{{"1", 1}, {"3", 3}}, []writer.KeyHash{kh("1", 1), kh("2", 7), kh("3", 3)}, "0", "3", "1-3:1", []uint64{7}, true},
		{"lost before the first", []src{{"5", 5}}, []writer.KeyHash{kh("-3", 7), kh("5", 5)}, "-10", "5", "-10-5:1", []uint64{7}, true},
		{"lost after the last, open end", []src{{"1", 1}, {"2", 2}}, []writer.KeyHash{kh("1", 1), kh("2", 2), kh("9", 9), kh("10", 10)}, "", "", "2-:0", []uint64{9, 10}, true},
		{"changed last and lost after it: one part", []src{{"1", 1}, {"2", 2}}, []writer.KeyHash{kh("1", 1), kh("2", 8), kh("9", 9)}, "", "20", "1-20:1", []uint64{9}, true},
		{"negative keys in order", []src{{"-20", 1}, {"-3", 2}, {"4", 3}}, []writer.KeyHash{kh("-20", 1), kh("-3", 5), kh("4", 3)}, "", "4", "-20--3:1", nil, true},
		{"soft-deleted in the target, back in the source", []src{{"1", 1}, {"2", 2}}, []writer.KeyHash{kh("1", 1), {Key: schema.Row{[]byte("2")}, Hash: 2, HasHash: true, Deleted: true}}, "", "2", "1-2:1", nil, true},
		{"soft-deleted and lost: nothing to do", []src{{"1", 1}, {"3", 3}}, []writer.KeyHash{kh("1", 1), {Key: schema.Row{[]byte("2")}, Hash: 2, HasHash: true, Deleted: true}, kh("3", 3)}, "", "3", "", nil, true},
		{"a stored row without a hash", []src{{"1", 1}}, []writer.KeyHash{{Key: schema.Row{[]byte("1")}}}, "", "1", "-1:1", nil, true},
		{"a lost row without a hash", []src{{"1", 1}}, []writer.KeyHash{kh("1", 1), {Key: schema.Row{[]byte("2")}}}, "", "", "", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rows []schema.Row
			var hashes []uint64
			for _, s := range c.source {
				r, h := row(s.k, s.h)
				rows, hashes = append(rows, r), append(hashes, h)
			}
			p, ok := planSparse(rows, hashes, keyOf, c.target, key(c.lo), key(c.hi))
			if ok != c.ok {
				t.Fatalf("ok %v, want %v", ok, c.ok)
			}
			if !ok {
				return
			}
			var parts []string
			sent := 0
			for _, pt := range p.parts {
				lo, hi := "", ""
				if pt.Lo != nil {
					lo = string(pt.Lo[0])
				}
				if pt.Hi != nil {
					hi = string(pt.Hi[0])
				}
				parts = append(parts, fmt.Sprintf("%s-%s:%d", lo, hi, pt.Rows))
				sent += pt.Rows
			}
			if got := strings.Join(parts, ","); got != c.parts {
				t.Errorf("parts %q, want %q", got, c.parts)
			}
			if sent != len(p.rows) {
				t.Errorf("parts hold %d rows, %d sent", sent, len(p.rows))
			}
			if want := schema.DigestOf(append(append([]uint64(nil), hashes...), c.lost...)); p.want != want {
				t.Errorf("want digest %+v, expected %+v", p.want, want)
			}
		})
	}
}

// A page's target rows, read in one statement, are cut at each batch's
// end: keys up to it and past the one before, the last batch's to the
// end, empty ranges empty.
func TestTargetReadSplitsAtTheBatchesEnds(t *testing.T) {
	key := func(a, b int) schema.Row { return schema.Row{[]byte(fmt.Sprint(a)), []byte(fmt.Sprint(b))} }
	whole := &targetRead{done: make(chan struct{})}
	for _, k := range [][2]int{{-5, 1}, {-5, 20}, {2, -1}, {2, 3}, {10, 0}, {10, 1}} {
		whole.rows = append(whole.rows, writer.KeyHash{Key: key(k[0], k[1])})
	}
	close(whole.done)
	parts := whole.split([]schema.Row{key(-5, 9), key(1, 0), key(2, 3), nil})
	var got []string
	for _, p := range parts {
		<-p.done
		var keys []string
		for _, r := range p.rows {
			keys = append(keys, fmt.Sprintf("%s/%s", r.Key[0], r.Key[1]))
		}
		got = append(got, fmt.Sprint(keys))
	}
	if want := "[[-5/1] [-5/20] [2/-1 2/3] [10/0 10/1]]"; fmt.Sprint(got) != want {
		t.Fatalf("split %v, want %s", got, want)
	}
}
