package extract

import (
	"context"
	"sync/atomic"

	"github.com/sisporta/sisporta/runner/source"
)

// Wide rows: a page's byte bounds (MaxBytes, ChunkBytes) end it long
// before its row limit, and ending a statement early does not stop the
// server: the driver reads the rest of the result to reach the next
// statement (MySQL) or the end of the stream (SQL Server). With 256 KiB
// rows, a statement asking for 8,001 rows to use 40 made the source send
// 2 GB for every 10 MiB read. So a statement asks for about as many rows
// as its byte bounds let it keep, from the width of the entity's rows
// read so far (a few rows read first tell it when there are none yet).
// Narrow rows keep the pass's limit: the bounds are not reached before
// it, and the batches and key ranges a pass cuts stay as they were.

// widthProbeRows is how many rows are read to learn an entity's row width
// before its first page.
const widthProbeRows = 4

// rowWidth is the average bytes of values in an entity's rows (as
// source.Page.Bytes counts them), as last read; 0 while unknown. Passes
// of an entity read at once share it.
type rowWidth struct{ bytes atomic.Int64 }

// observe takes a page's average row width.
func (w *rowWidth) observe(p *source.Page) {
	if p != nil && len(p.Rows) > 0 && p.Bytes > 0 {
		w.bytes.Store(int64((p.Bytes + len(p.Rows) - 1) / len(p.Rows)))
	}
}

// width returns the entity's shared width estimate.
func (x *Extractor) width(e *source.Entity) *rowWidth {
	w, _ := x.widths.LoadOrStore(e.Name, &rowWidth{})
	return w.(*rowWidth)
}

// learnWidth reads a few rows where req starts when the entity's row
// width is not known yet. A failure is left to the page read that
// follows, which meets it too.
func (x *Extractor) learnWidth(ctx context.Context, e *source.Entity, req source.PageRequest, w *rowWidth) {
	if req.KeysOnly || w.bytes.Load() > 0 {
		return
	}
	p, err := x.Source.ReadPage(ctx, e, source.PageRequest{After: req.After, UpTo: req.UpTo, Limit: widthProbeRows, Cursor: req.Cursor})
	if err == nil {
		w.observe(p)
	}
}

// rowsToAsk is the row limit of a statement of req whose rows are about
// rowBytes wide: the pass's limit, or fewer where req's byte bounds would
// end the page first, with a quarter more for rows wider or narrower than
// the average. 0 rowBytes (unknown) keeps the limit.
func rowsToAsk(req source.PageRequest, limit int, rowBytes int64) int {
	if rowBytes <= 0 || req.KeysOnly || req.MaxBytes <= 0 {
		return limit
	}
	// Rows until the values hold n bytes: the row that reaches n ends it.
	rowsFor := func(n int) int64 { return (int64(n) + rowBytes - 1) / rowBytes }
	need := rowsFor(req.MaxBytes)
	if req.ChunkRows > 0 {
		// A chunk ends at ChunkRows rows or MaxBytes bytes, and the page at
		// the end of the first chunk at which it holds ChunkBytes.
		chunk := min(int64(req.ChunkRows), need)
		chunks := int64(1)
		if req.ChunkBytes > 0 {
			chunks = max(1, (int64(req.ChunkBytes)+chunk*rowBytes-1)/(chunk*rowBytes))
		}
		need = chunks * chunk
	}
	ask := need + need/4 + 1
	if ask >= int64(limit) {
		return limit
	}
	return int(ask)
}
