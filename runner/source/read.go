package source

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sisporta/sisporta/runner/schema"
)

// PageRequest asks for the next page of an entity in key order.
type PageRequest struct {
	// After continues after this key (Page.Last of the previous page); nil
	// starts at the beginning.
	After []any
	// Limit is the most rows to return.
	Limit int
	// MaxBytes ends the page early once its values hold this many bytes
	// (0: no limit), so wide rows cannot blow up a batch.
	MaxBytes int
	// KeysOnly reads only the key columns (the key scan of incremental
	// entities, which finds deletes).
	KeysOnly bool
	// Cursor restricts the read to rows changed within a window.
	Cursor *CursorWindow
	// UpTo ends the read at this key, included (parameters as Page.Last
	// gives them); nil reads to the end.
	UpTo []any
	// Digest also reads each row's hash and sums the page's rows up in
	// Page.Digest, as RangeDigest would sum up the same rows.
	Digest bool
	// ChunkRows, with Digest, also cuts the page into chunks of up to
	// this many rows, each summed up on its own in Page.Chunks, so that one
	// statement reads several batches: a chunk ends early once its values
	// hold MaxBytes (which then bounds chunks, not the page), and the page
	// at the end of the first chunk at which its values hold ChunkBytes.
	ChunkRows  int
	ChunkBytes int
}

// Chunk is one part of a page read with PageRequest.ChunkRows: its rows
// are Page.Rows[previous chunk's End:End].
type Chunk struct {
	End int
	// Last holds the exact key parameters of the chunk's last row (as
	// Page.Last does for the page's).
	Last []any
	// Bytes is the size of the chunk's values (as Page.Bytes counts).
	Bytes int
	// Digest of the chunk's rows.
	Digest schema.SourceDigest
}

// Page is a page of rows.
type Page struct {
	Rows []Row
	// Last holds the exact key parameters that continue after the last row.
	Last []any
	// Bytes is the size of the values read.
	Bytes int
	// Done is true when nothing follows the page (up to PageRequest.UpTo).
	Done bool
	// Digest of the page's rows (PageRequest.Digest).
	Digest *schema.SourceDigest
	// Chunks of the page (PageRequest.ChunkRows), in order; none when the
	// page has no rows.
	Chunks []Chunk
}

// ReadPage reads one page in key order: one statement, in a read-only
// scope, at the source's default isolation (READ COMMITTED: never
// NOLOCK, which can skip rows and so cause false deletes).
//
// It refuses keys that do not identify rows: two rows in a row with the
// same key (keyset pagination would skip the second, and the target would
// merge them). The row after the page is read too, so a duplicate that
// straddles two pages is seen as well.
func (s *Source) ReadPage(ctx context.Context, e *Entity, req PageRequest) (*Page, error) {
	var page *Page
	err := s.retryLocks(ctx, func() error {
		var err error
		page, err = s.readPage(ctx, e, req)
		return err
	})
	return page, err
}

func (s *Source) readPage(ctx context.Context, e *Entity, req PageRequest) (*Page, error) {
	cols := e.cols
	if req.KeysOnly {
		cols = e.keyCols()
	}
	q, args := buildPageQuery(s.d, e, req)
	page := &Page{}
	digest := req.Digest && !req.KeysOnly
	var chunk schema.SourceDigest
	chunks := digest && req.ChunkRows > 0
	chunkStart, chunkBytes := 0, 0
	var (
		hasher  rowDigester
		pieces  []uint64
		scratch []byte
	)
	if digest {
		d := s.d.newDigest()
		page.Digest = &d
		chunk = s.d.newDigest()
		hasher = s.d.rowDigest(e.cols, e.Spec.Query != "")
	}
	keyIdx := keyPositions(cols)
	last := make([]any, len(keyIdx))
	var prevKey, key []byte
	a := &arena{}
	n, full, more := 0, false, false
	keyOf := func(vals []any) ([]byte, error) {
		key = key[:0]
		for _, j := range keyIdx {
			v, err := s.d.canonical(&cols[j], vals[j], a)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", cols[j].Source, err)
			}
			if v == nil {
				return nil, fmt.Errorf("column %s: %w", cols[j].Source, ErrNullKey)
			}
			key = binary.AppendUvarint(key, uint64(len(v)))
			key = append(key, v...)
		}
		return key, nil
	}
	err := s.d.query(ctx, s.db, q, args, func(vals []any) error {
		if full {
			// The row after the page: something follows, and its key must
			// differ from the page's last.
			k, err := keyOf(vals)
			if err != nil {
				return err
			}
			if bytes.Equal(k, prevKey) {
				return e.duplicateKey(page.Rows[len(page.Rows)-1])
			}
			more = true
			return errStop
		}
		row := a.row(len(cols))
		key = key[:0]
		for i := range cols {
			v, err := s.d.canonical(&cols[i], vals[i], a)
			if err != nil {
				return fmt.Errorf("column %s: %w", cols[i].Source, err)
			}
			row[i] = v
			page.Bytes += len(v)
		}
		for _, j := range keyIdx {
			v := row[j]
			if v == nil {
				return fmt.Errorf("column %s: %w", cols[j].Source, ErrNullKey)
			}
			key = binary.AppendUvarint(key, uint64(len(v)))
			key = append(key, v...)
			last[cols[j].Key-1] = s.d.keyParam(&cols[j], vals[j], v)
		}
		if n > 0 && bytes.Equal(key, prevKey) {
			return e.duplicateKey(row)
		}
		if digest {
			var err error
			if pieces, scratch, err = hasher.hash(pieces[:0], scratch, vals); err != nil {
				return err
			}
			page.Digest.Add(pieces...)
			if chunks {
				chunk.Add(pieces...)
			}
		}
		prevKey = append(prevKey[:0], key...)
		page.Rows = append(page.Rows, row)
		n++
		if !chunks {
			full = n == req.Limit || (req.MaxBytes > 0 && page.Bytes >= req.MaxBytes)
			return nil
		}
		full = n == req.Limit
		if full || n-chunkStart == req.ChunkRows || (req.MaxBytes > 0 && page.Bytes-chunkBytes >= req.MaxBytes) {
			params, err := s.finishKeys(cols, keyIdx, last)
			if err != nil {
				return err
			}
			page.Chunks = append(page.Chunks, Chunk{End: n, Last: params, Bytes: page.Bytes - chunkBytes, Digest: chunk})
			chunk, chunkStart, chunkBytes = s.d.newDigest(), n, page.Bytes
			full = full || (req.ChunkBytes > 0 && page.Bytes >= req.ChunkBytes)
		}
		return nil
	})
	if err == nil && n > 0 {
		if chunks && (len(page.Chunks) == 0 || page.Chunks[len(page.Chunks)-1].End != n) {
			// The page ended (the range's end) within a chunk.
			var params []any
			if params, err = s.finishKeys(cols, keyIdx, last); err == nil {
				page.Chunks = append(page.Chunks, Chunk{End: n, Last: params, Bytes: page.Bytes - chunkBytes, Digest: chunk})
			}
		}
		if err == nil {
			page.Last, err = s.finishKeys(cols, keyIdx, last)
		}
	}
	if err != nil {
		var dup *DuplicateKeyError
		if errors.As(err, &dup) {
			return nil, err
		}
		return nil, fmt.Errorf("entity %s: reading the source: %w", e.Name, s.redact(err))
	}
	page.Done = !more
	return page, nil
}

// finishKeys turns the last row's key parameters (keyParam's, in key
// order) into what continues after it.
func (s *Source) finishKeys(cols []column, keyIdx []int, last []any) ([]any, error) {
	out := make([]any, len(keyIdx))
	for _, j := range keyIdx {
		k := cols[j].Key - 1
		v, err := s.d.finishKey(&cols[j], last[k])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", cols[j].Source, err)
		}
		out[k] = v
	}
	return out, nil
}

// DuplicateKeyError says that keyColumns do not identify rows.
type DuplicateKeyError struct {
	Entity  string
	Columns []string
	Key     []string
	// Finer names key columns whose source values are finer than the
	// mirror's (100 ns against a microsecond): keys unique in the source
	// that differ only below a microsecond become one.
	Finer []string
}

func (e *DuplicateKeyError) Error() string {
	msg := fmt.Sprintf("entity %s: the key columns (%s) do not identify rows: the source has more than one row with key (%s); the mirror would keep one of them. Set source.keyColumns to columns that are unique (a primary key or unique index), or filter the duplicates out with source.where",
		e.Entity, strings.Join(e.Columns, ", "), strings.Join(e.Key, ", "))
	if len(e.Finer) > 0 {
		msg += fmt.Sprintf(". Note: %s keep 100-nanosecond steps in the source and microseconds in MySQL, so keys that differ only below a microsecond are the same key in the mirror: key on another column (an ID), or read the column through source.query as a string or a bigint of ticks", strings.Join(e.Finer, ", "))
	}
	return msg
}

// duplicateKey builds the error for a row whose key the previous row has.
func (e *Entity) duplicateKey(row Row) error {
	err := &DuplicateKeyError{Entity: e.Name}
	for _, c := range e.keyCols() {
		err.Columns = append(err.Columns, c.Source)
		if (c.Kind == schema.KindDateTime || c.Kind == schema.KindTime) && c.raw.Scale > 6 {
			err.Finer = append(err.Finer, c.Source+" ("+c.raw.FullType+")")
		}
	}
	for _, v := range e.keyOfRow(row) {
		err.Key = append(err.Key, quoteValue(v))
	}
	return err
}

// keyOfRow returns the key values of a full or keys-only row, in key order.
func (e *Entity) keyOfRow(row Row) Row {
	if len(row) == len(e.keyCols()) {
		return row
	}
	idx := e.Schema.KeyIndexes()
	out := make(Row, len(idx))
	for i, j := range idx {
		out[i] = row[j]
	}
	return out
}

// quoteValue shows a value in a message: text quoted, bytes in hex.
func quoteValue(v []byte) string {
	if utf8.Valid(v) {
		return strconv.Quote(string(v))
	}
	return "0x" + strings.ToUpper(hex.EncodeToString(v))
}

// buildPageQuery renders the keyset query of a page and its arguments.
func buildPageQuery(d dialect, e *Entity, req PageRequest) (string, []any) {
	cols := e.cols
	if req.KeysOnly {
		cols = e.keyCols()
	}
	var sel []string
	for i := range cols {
		sel = append(sel, d.selectExpr(&cols[i]))
	}
	if req.Digest && !req.KeysOnly {
		sel = append(sel, d.rowDigest(e.cols, e.Spec.Query != "").exprs...)
	}
	b := &sqlBuilder{d: d}
	conds := e.rangeConds(b, req.After, req.UpTo)
	if req.Cursor != nil {
		if c := b.cursor(e.cursor, req.Cursor); c != "" {
			conds = append(conds, c)
		}
	}
	var order []string
	for _, c := range e.keyCols() {
		order = append(order, d.quote(c.Source))
	}
	// One row more than asked tells whether anything follows, so the last
	// page is known as such without another query.
	q := d.limitQuery(strings.Join(sel, ", "), e.from, strings.Join(conds, " AND "), strings.Join(order, ", "), req.Limit+1)

	return q, b.args
}

func keyPositions(cols []column) []int {
	var idx []int
	for i, c := range cols {
		if c.Key > 0 {
			idx = append(idx, i)
		}
	}
	return idx
}

// keyCols returns the key columns in key order.
func (e *Entity) keyCols() []column {
	idx := e.Schema.KeyIndexes()
	out := make([]column, len(idx))
	for i, j := range idx {
		out[i] = e.cols[j]
	}
	return out
}

// Incremental reports whether the entity reads only changed rows.
func (e *Entity) Incremental() bool { return e.cursor != nil }

// sqlBuilder collects the arguments of a statement as it renders conditions.
type sqlBuilder struct {
	d    dialect
	args []any
}

// param adds an argument and returns the expression comparing it with c.
func (b *sqlBuilder) param(c *column, v any) string {
	b.args = append(b.args, b.d.arg(c, v))
	return b.d.keyExpr(c, b.d.placeholder(len(b.args)))
}

// after renders "key > last" for a composite key, in a form whose leading
// "k1 >= v1" lets the server seek the index:
//
//	k1 >= v1 AND (k1 > v1 OR (k1 = v1 AND (k2 > v2 OR (k2 = v2 AND k3 > v3))))
func (b *sqlBuilder) after(keys []column, last []any) string {
	q := func(i int) string { return b.d.quote(keys[i].Source) }
	var inner func(i int) string
	inner = func(i int) string {
		gt := q(i) + " > " + b.param(&keys[i], last[i])
		if i == len(keys)-1 {
			return gt
		}
		return "(" + gt + " OR (" + q(i) + " = " + b.param(&keys[i], last[i]) + " AND " + inner(i+1) + "))"
	}
	if len(keys) == 1 {
		return "(" + inner(0) + ")"
	}
	return "(" + q(0) + " >= " + b.param(&keys[0], last[0]) + " AND " + inner(0) + ")"
}
