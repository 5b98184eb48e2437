package writer

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
)

// The bulk form of a batch's rows is LOAD DATA's own input (encodeLoad):
// the extractor renders a full copy's batches in it once, and a worker
// that loads them into an empty key range streams the bytes to the server
// as they came, with the row hashes the extractor computed. Decoding the
// rows, hashing them again and rendering them anew cost a full copy's
// worker most of its CPU. Where the range is not empty, or the table or
// server does not take LOAD DATA, the worker parses the form back into
// rows (parseBulk) and applies them as any other batch.

// BulkEncoder renders rows of one table shape in the bulk form.
type BulkEncoder struct {
	codecs []mysqltype.Codec
}

// NewBulkEncoder is the encoder of the table's rows; nil when a column's
// type does not load exactly (the rows then travel as they are).
func NewBulkEncoder(s *schema.Table) *BulkEncoder {
	codecs, err := mysqltype.Codecs(s.Columns)
	if err != nil || !loadableCodecs(codecs) {
		return nil
	}
	return &BulkEncoder{codecs: codecs}
}

// Append renders rows, each with its hash (as the batch's schema hashes
// it), after dst.
func (e *BulkEncoder) Append(dst []byte, rows []schema.Row, hashes []uint64) []byte {
	return appendLoad(dst, e.codecs, rows, hashes)
}

func loadableCodecs(codecs []mysqltype.Codec) bool {
	for _, k := range codecs {
		if !loadable[k.Def.Base] {
			return false
		}
	}
	return true
}

// applyBulk loads a bulk batch as it came when that stores exactly what
// the upsert would: the batch's key range holds no target row (live or
// soft-deleted), the target orders the key as the source does (so an
// empty range means no key of the batch is elsewhere), and LOAD DATA is
// allowed. It reports whether it did; when not, the caller parses the
// rows and applies them as usual.
func (t *Target) applyBulk(ctx context.Context, tx *tx, b *Batch, sh *shape, info *tableInfo, res *ApplyResult) (bool, error) {
	if !b.Ranged || b.KeysOnly || b.Verify || b.Want != nil || !orderSafe(sh.keyCols, info.order) || !t.canLoad(info, sh, b.BulkRows) {
		return false, nil
	}
	w := newRangeWhere(sh.keyCols, sh.keyCodecs, info.order)
	cond := w.rangeCond(b.Lo, b.Hi)
	if w.err != nil {
		return false, w.err
	}
	if cond != "" {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM "+quoteTable(b.Table)+" WHERE "+cond+" LIMIT 1", w.args...).Scan(&one)
		switch {
		case err == nil:
			return false, nil // the range has rows: compare them
		case !errors.Is(err, sql.ErrNoRows):
			return false, err
		}
	}
	loaded, err := t.loadText(ctx, tx, b, sh, b.Bulk, b.BulkRows)
	if err != nil || !loaded {
		return false, err
	}
	res.Loaded, res.Written = true, b.BulkRows
	return true, nil
}

// parseBulk reads n rows of the bulk form back, as the rows they were
// made of: the inverse of encodeLoad (the hashes are left out: the
// writer computes its own when it compares rows).
func parseBulk(codecs []mysqltype.Codec, data []byte, n int) ([]schema.Row, error) {
	rows := make([]schema.Row, 0, n)
	for len(data) > 0 {
		end := bytes.IndexByte(data, '\n')
		if end < 0 {
			return nil, fmt.Errorf("bulk rows: row %d has no end", len(rows)+1)
		}
		line := data[:end]
		data = data[end+1:]
		r := make(schema.Row, len(codecs))
		for j := range codecs {
			tab := bytes.IndexByte(line, '\t')
			if tab < 0 {
				return nil, fmt.Errorf("bulk rows: row %d has %d fields, want %d", len(rows)+1, j+1, len(codecs)+1)
			}
			field := line[:tab]
			line = line[tab+1:]
			v, err := parseBulkField(codecs[j], field)
			if err != nil {
				return nil, fmt.Errorf("bulk rows: row %d, column %d: %w", len(rows)+1, j+1, err)
			}
			r[j] = v
		}
		if _, err := strconv.ParseUint(string(line), 10, 64); err != nil {
			return nil, fmt.Errorf("bulk rows: row %d: its hash field %q is not one", len(rows)+1, line)
		}
		rows = append(rows, r)
	}
	if len(rows) != n {
		return nil, fmt.Errorf("bulk rows: %d rows, the batch says %d", len(rows), n)
	}
	return rows, nil
}

// parseBulkField undoes one field of appendLoad: \N is NULL, bytes and
// raw text are hex, anything else has LOAD DATA's escapes.
func parseBulkField(k mysqltype.Codec, f []byte) ([]byte, error) {
	if len(f) == 2 && f[0] == '\\' && f[1] == 'N' {
		return nil, nil
	}
	if k.Kind.IsBinary() || k.IsRaw() {
		out := make([]byte, len(f)/2)
		if _, err := hex.Decode(out, f); err != nil {
			return nil, err
		}
		return out, nil
	}
	if bytes.IndexByte(f, '\\') < 0 {
		return bytes.Clone(f), nil
	}
	out := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		if f[i] != '\\' {
			out = append(out, f[i])
			continue
		}
		i++
		if i == len(f) {
			return nil, fmt.Errorf("a field ends in an escape")
		}
		switch f[i] {
		case '\\':
			out = append(out, '\\')
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case '0':
			out = append(out, 0)
		default:
			return nil, fmt.Errorf("unknown escape \\%c", f[i])
		}
	}
	return out, nil
}
