package extract

import (
	"testing"

	"github.com/sisporta/sisporta/runner/source"
)

func TestRowsToAsk(t *testing.T) {
	chunked := source.PageRequest{MaxBytes: 8 << 20, ChunkRows: 1000, ChunkBytes: 2 << 20}
	plain := source.PageRequest{MaxBytes: 8 << 20}
	for _, c := range []struct {
		name     string
		req      source.PageRequest
		limit    int
		rowBytes int64
		want     int
	}{
		{"width unknown", chunked, 8000, 0, 8000},
		{"narrow rows keep the pass's limit", chunked, 8000, 240, 8000},
		{"rows that end a statement by bytes near its limit keep it", chunked, 8000, 300, 8000},
		{"medium rows: one 1,000-row chunk holds 2 MiB", chunked, 8000, 4 << 10, 1251},
		{"wide rows: a chunk ends at 8 MiB", chunked, 8000, 256 << 10, 41},
		{"rows wider than a chunk's bound", chunked, 8000, 6 << 20, 3},
		{"a batch a statement", plain, 1000, 16 << 10, 641},
		{"a batch a statement, narrow rows", plain, 1000, 200, 1000},
		{"keys only", source.PageRequest{MaxBytes: 8 << 20, KeysOnly: true}, 1000, 1 << 20, 1000},
		{"no byte bound", source.PageRequest{}, 1000, 1 << 20, 1000},
	} {
		if got := rowsToAsk(c.req, c.limit, c.rowBytes); got != c.want {
			t.Errorf("%s: rowsToAsk(limit %d, %d-byte rows) = %d, want %d", c.name, c.limit, c.rowBytes, got, c.want)
		}
	}
}
