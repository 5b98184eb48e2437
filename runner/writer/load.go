package writer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"

	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
)

// minLoadRows is the smallest batch worth LOAD DATA's extra round trips
// (a savepoint and a warning count).
const minLoadRows = 32

// loadable column types: those LOAD DATA stores exactly as an INSERT of
// the same canonical text does (text converts from utf8mb4 alike; numbers,
// dates and times parse alike; ENUM and SET take member names). Bytes,
// text carried as raw bytes and BIT values go through UNHEX or CAST (see
// loadSet). Spatial types and anything not listed keep the upsert.
var loadable = map[string]bool{
	"tinyint": true, "smallint": true, "mediumint": true, "int": true, "integer": true, "bigint": true,
	"decimal": true, "numeric": true, "float": true, "double": true, "real": true, "bit": true,
	"char": true, "varchar": true, "tinytext": true, "text": true, "mediumtext": true, "longtext": true,
	"binary": true, "varbinary": true, "tinyblob": true, "blob": true, "mediumblob": true, "longblob": true,
	"date": true, "time": true, "datetime": true, "timestamp": true, "year": true,
	"enum": true, "set": true, "json": true, "uuid": true,
}

// loadSeq names each LOAD DATA's reader uniquely (they are registered
// process-wide).
var loadSeq atomic.Uint64

// canLoad reports whether rows of a batch may be loaded in bulk: every
// row is new (the target holds none of their keys, live or soft-deleted),
// the table is one Sisporta made (its columns are the schema's types, so
// LOAD DATA reads each field as the INSERT would), and every column type
// loads exactly.
func (t *Target) canLoad(info *tableInfo, sh *shape, rows int) bool {
	return rows >= minLoadRows && info.created && !t.noLoad.Load() && loadableCodecs(sh.codecs)
}

// load writes new rows with LOAD DATA LOCAL INFILE from memory, the
// server's bulk path: several times less server CPU than a multi-row
// INSERT … ON DUPLICATE KEY UPDATE for a range the target has nothing of
// (a full copy). LOAD DATA LOCAL turns errors into warnings (duplicate
// keys skipped, values truncated), so any warning, or a row count that
// differs, fails the batch's transaction with errLoadRejected: it is
// rolled back and applied again with the upsert, whose errors say exactly
// what is wrong (rare: a savepoint around every load would cost every
// batch two statements). A server that does not allow LOCAL loads
// (MySQL 8's default local_infile=OFF) refuses the statement before it
// does anything: that is remembered, the server is never asked again,
// and load reports false.
func (t *Target) load(ctx context.Context, tx *tx, b *Batch, sh *shape, rows []schema.Row, hashes []uint64) (bool, error) {
	buf := encodeLoad(sh, rows, hashes)
	defer loadBufs.Put(buf)
	return t.loadText(ctx, tx, b, sh, *buf, len(rows))
}

// loadText is load of rows already in LOAD DATA's form: n of them, with
// their hashes (a bulk batch's, bulk.go).
func (t *Target) loadText(ctx context.Context, tx *tx, b *Batch, sh *shape, data []byte, n int) (bool, error) {
	name := fmt.Sprintf("sisporta-load-%d", loadSeq.Add(1))
	mysql.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(data) })
	defer mysql.DeregisterReaderHandler(name)

	release := t.loadTurn(ctx, b.Table)
	r, err := tx.ExecContext(ctx, loadStatement(b.Table, sh, name))
	release()
	if err != nil {
		if localLoadRefused(err) {
			t.noLoad.Store(true)
			return false, nil
		}
		return false, err
	}
	stored, _ := r.RowsAffected()
	var warnings int
	if err := tx.QueryRowContext(ctx, "SELECT @@warning_count").Scan(&warnings); err != nil {
		return false, err
	}
	if warnings > 0 || stored != int64(n) {
		return false, errLoadRejected
	}
	return true, nil
}

// errLoadRejected: LOAD DATA did not store the rows exactly; the batch is
// applied again without it.
var errLoadRejected = errors.New("LOAD DATA stored the rows otherwise than an INSERT would")

// loadStatement renders the LOAD DATA statement of the shape: fields
// separated by tabs, rows by newlines, backslash escapes, \N for NULL; the
// hash column last.
func loadStatement(table string, sh *shape, reader string) string {
	var fields, sets []string
	for i, c := range sh.cols {
		if expr := loadSet(sh.codecs[i], fmt.Sprintf("@v%d", i)); expr != "" {
			fields = append(fields, fmt.Sprintf("@v%d", i))
			sets = append(sets, quote(c.Name)+" = "+expr)
			continue
		}
		fields = append(fields, quote(c.Name))
	}
	fields = append(fields, quote(HashColumn))
	q := "LOAD DATA LOCAL INFILE 'Reader::" + reader + "' INTO TABLE " + quoteTable(table) +
		` CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' (` + strings.Join(fields, ", ") + ")"
	if len(sets) > 0 {
		q += " SET " + strings.Join(sets, ", ")
	}
	return q
}

// loadSet is the expression a field goes through, for values whose text
// LOAD DATA would read otherwise than an INSERT literal: bytes and raw
// text travel as hex (a utf8mb4 file is read character by character, and
// what a server makes of a stray lead byte followed by a tab is its own
// business), BIT as a number (LOAD DATA would store a number's digits as
// bits), YEAR as a number (LOAD DATA reads the text '0' as the year
// 2000, where the number 0 is 0000, and says nothing). "" when the field
// loads as it is.
func loadSet(k mysqltype.Codec, v string) string {
	switch {
	case k.Kind.IsBinary():
		return "UNHEX(" + v + ")"
	case k.IsRaw():
		return "CONVERT(UNHEX(" + v + ") USING " + k.Def.Charset + ")"
	case k.Def.Base == "bit", k.Def.Base == "year":
		return "CAST(" + v + " AS UNSIGNED)"
	}
	return ""
}

// loadBufs are encodeLoad's buffers, reused once their LOAD DATA is done:
// a full copy's batches are a few MiB of text each, which would otherwise
// be allocated, and zeroed, batch after batch.
var loadBufs sync.Pool

// encodeLoad renders rows as LOAD DATA's input for loadStatement, in a
// buffer of loadBufs (Put it back once read).
func encodeLoad(sh *shape, rows []schema.Row, hashes []uint64) *[]byte {
	size := 0
	for _, r := range rows {
		for _, v := range r {
			size += 2*len(v) + 1
		}
		size += 22
	}
	buf, ok := loadBufs.Get().(*[]byte)
	if !ok || cap(*buf) < size {
		b := make([]byte, 0, size)
		buf = &b
	}
	*buf = appendLoad((*buf)[:0], sh.codecs, rows, hashes)
	return buf
}

// appendLoad renders rows, each followed by its hash, as LOAD DATA's
// input for loadStatement after out.
func appendLoad(out []byte, codecs []mysqltype.Codec, rows []schema.Row, hashes []uint64) []byte {
	for i, r := range rows {
		for j, v := range r {
			switch {
			case v == nil:
				out = append(out, '\\', 'N')
			case codecs[j].Kind.IsBinary() || codecs[j].IsRaw():
				out = appendHexText(out, v)
			default:
				out = appendLoadEscaped(out, v)
			}
			out = append(out, '\t')
		}
		out = strconv.AppendUint(out, hashes[i], 10)
		out = append(out, '\n')
	}
	return out
}

func appendHexText(b, v []byte) []byte {
	const digits = "0123456789ABCDEF"
	for _, x := range v {
		b = append(b, digits[x>>4], digits[x&0xf])
	}
	return b
}

// loadSpecial marks the bytes LOAD DATA would take as structure: the
// escape character, the separators and NUL.
var loadSpecial = [256]bool{'\\': true, '\t': true, '\n': true, '\r': true, 0: true}

// appendLoadEscaped escapes what LOAD DATA would otherwise take as
// structure; most values have none of it, and go in one copy.
func appendLoadEscaped(b, v []byte) []byte {
	for i, x := range v {
		if loadSpecial[x] {
			return appendLoadEscapedFrom(append(b, v[:i]...), v[i:])
		}
	}
	return append(b, v...)
}

func appendLoadEscapedFrom(b, v []byte) []byte {
	for _, x := range v {
		switch x {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case 0:
			b = append(b, '\\', '0')
		default:
			b = append(b, x)
		}
	}
	return b
}

// localLoadRefused reports the errors of a server (or client) that does
// not allow LOAD DATA LOCAL.
func localLoadRefused(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1148, 3948, 4166, 2068, 1227: // not allowed; local_infile off (MySQL, MariaDB); rejected; no privilege
			return true
		}
	}
	return strings.Contains(err.Error(), "local file") || strings.Contains(err.Error(), "LOCAL INFILE")
}
