package source

// arena hands out copies of values from large shared chunks: one
// allocation per 64 KiB of a page instead of one per value; and rows (the
// slices of a row's values) from shared slabs of up to 64 KiB: one
// allocation per 256 narrow rows instead of one per row (allocating rows
// one by one took 6-8% of the extractor's CPU).
type arena struct {
	buf     []byte
	scratch []byte // for values rendered before they are copied
	rows    [][]byte
}

const arenaChunk = 64 << 10

// row hands out a row of n values, all nil. Rows of one slab live as long
// as the longest-lived of them: a page's rows, which go together.
func (a *arena) row(n int) Row {
	if n == 0 {
		return Row{}
	}
	if cap(a.rows)-len(a.rows) < n {
		a.rows = make([][]byte, 0, n*min(max(arenaChunk/(24*n), 1), 256))
	}
	start := len(a.rows)
	a.rows = a.rows[:start+n]
	return Row(a.rows[start : start+n : start+n])
}

func (a *arena) copy(b []byte) []byte {
	if len(b) > arenaChunk/4 {
		return append(make([]byte, 0, len(b)), b...)
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}
