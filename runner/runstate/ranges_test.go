package runstate_test

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"

	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/schema"
)

// A list of more ranges than one read takes comes back whole and in
// order, every field as stored; an incomplete one does not come back.
func TestRangesRoundTripInPieces(t *testing.T) {
	s, q := newStore(t)
	ctx := context.Background()
	const n = 2503
	if err := s.StartPending(ctx, q, "orders", runstate.RangeMeta{Shape: "sh", Run: 7, Epoch: "ep"}); err != nil {
		t.Fatal(err)
	}
	want := make([]runstate.Range, n)
	for i := range want {
		r := runstate.Range{Count: int64(i % 1000), Bytes: int64(i * 3), Target: schema.Digest{Count: i, Xor: uint64(i) * 77, Sum: strconv.Itoa(i * 5)}}
		if i%5 != 0 {
			r.Source = fmt.Sprintf("digest-%d", i)
		}
		if i < n-1 {
			k := strconv.Itoa((i + 1) * 10)
			r.Hi, r.HiParams = schema.Row{[]byte(k), []byte("b")}, []any{int64((i + 1) * 10), "b"}
		}
		want[i] = r
	}
	for from := 0; from < n; from += 400 {
		if err := s.AddPending(ctx, q, "orders", from, want[from:min(n, from+400)]); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.LoadRanges(ctx, q, "orders"); err != nil || got != nil {
		t.Fatalf("before any list is current: %v, %v", got, err)
	}
	if err := s.FinishPending(ctx, q, "orders", n); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PromotePending(ctx, q, "orders", 7); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadRanges(ctx, q, "orders")
	if err != nil || got == nil {
		t.Fatalf("loading: %v, %v", got, err)
	}
	if got.Shape != "sh" || got.Run != 7 || got.Epoch != "ep" || len(got.Ranges) != n {
		t.Fatalf("loaded shape %q run %d epoch %q with %d ranges", got.Shape, got.Run, got.Epoch, len(got.Ranges))
	}
	for i := range want {
		if !reflect.DeepEqual(got.Ranges[i], want[i]) {
			t.Fatalf("range %d: got %+v, want %+v", i, got.Ranges[i], want[i])
		}
	}
}
