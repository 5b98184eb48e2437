package source

import (
	"context"
	"crypto/sha1" //nolint:gosec // the server's SHA1, matched bit for bit; not a security use
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/sisporta/sisporta/runner/schema"
)

// Range digests: the source summarises the rows of a key range server
// side, so a run can tell an unchanged range from a changed one without
// reading its rows. Each row's canonical text — every mapped column in
// schema order, NULL-safe and injective per type (below) — is hashed with
// a cryptographic hash, and the range's digest is its row count and
// aggregates of the hashes:
//
//   - MySQL/MariaDB: the first 64 bits of SHA1 of the row text, BIT_XOR
//     over the range.
//   - SQL Server (no XOR aggregate): four 32-bit pieces of SHA2_256 of the
//     row text, each summed over the range as bigint (128 bits; no
//     overflow below 2^31 rows a range).
//
// A change the mirror would show (any value, NULL or not, a row in or
// out of the range or of the where filter) changes the digest but with
// odds of 2^-64 or less. A page read with PageRequest.Digest hashes each
// row as the range digest does (rowDigester), so the extractor aggregates
// the digest of what it read exactly as the server would: on MySQL in Go,
// from the values it reads anyway (the server's part of a full read would
// otherwise grow by half), on SQL Server by selecting the row hash.

// digestVersion names the canonical row forms; a stored digest of
// another version never matches (the entity's DigestShape changes).
const digestVersion = "rd1"

// DigestShape identifies what a range digest of the entity covers: the
// canonical forms' version, the dialect, every column's source type and
// target shape, the key, the where filter and the table or query. A stored
// digest of another shape cannot be compared with one of this shape.
func (e *Entity) DigestShape() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00", digestVersion, e.Spec.Table, e.Spec.Query, e.Spec.Where, e.Schema.Fingerprint())
	for _, c := range e.cols {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%v\x00%d\x00", c.Source, c.raw.FullType, c.raw.Charset, c.raw.Collation, c.raw.Nullable, c.Key)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// RangeDigest asks the source for the digest of the entity's rows in the
// key range (after, upTo]: parameters as Page.Last gives them, nil for an
// open end. One aggregate statement over an index range scan.
func (s *Source) RangeDigest(ctx context.Context, e *Entity, after, upTo []any) (schema.SourceDigest, error) {
	ds, err := s.RangeDigests(ctx, e, []Bounds{{After: after, UpTo: upTo}})
	if err != nil {
		return schema.SourceDigest{}, err
	}
	return ds[0], nil
}

// Bounds are a key range (After, UpTo], as parameters Page.Last gives
// (nil: open).
type Bounds struct {
	After, UpTo []any
}

// RangeDigests asks for the digests of several key ranges in one
// statement (UNION ALL of one aggregate each): a range's digest costs the
// source a scan of its rows, and a round trip is a large share of that
// for ranges of a batch's size.
func (s *Source) RangeDigests(ctx context.Context, e *Entity, ranges []Bounds) ([]schema.SourceDigest, error) {
	b := &sqlBuilder{d: s.d}
	parts := make([]string, len(ranges))
	for i, r := range ranges {
		conds := e.rangeConds(b, r.After, r.UpTo)
		parts[i] = s.d.rangeDigestQuery(e.cols, e.Spec.Query != "", strconv.Itoa(i), e.from, strings.Join(conds, " AND "))
	}
	q := strings.Join(parts, " UNION ALL ")
	out := make([]schema.SourceDigest, len(ranges))
	err := s.retryLocks(ctx, func() error {
		got := make([]bool, len(ranges))
		err := s.d.query(ctx, s.db, q, b.args, func(vals []any) error {
			i, err := asUint64(vals[0])
			if err != nil || i >= uint64(len(ranges)) {
				return fmt.Errorf("range digest: unexpected label %v", vals[0])
			}
			d, err := s.d.scanRangeDigest(vals[1:])
			out[i], got[i] = d, true
			return err
		})
		for i := range got {
			if err == nil && !got[i] {
				err = fmt.Errorf("range digest: no row for range %d", i)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("entity %s: asking the source for range digests: %w", e.Name, s.redact(err))
	}
	return out, nil
}

// rangeConds are the where filter and the key range (after, upTo].
func (e *Entity) rangeConds(b *sqlBuilder, after, upTo []any) []string {
	var conds []string
	if e.Spec.Where != "" {
		conds = append(conds, "("+e.Spec.Where+")")
	}
	if len(after) > 0 {
		conds = append(conds, b.after(e.keyCols(), after))
	}
	if len(upTo) > 0 {
		conds = append(conds, b.upTo(e.keyCols(), upTo))
	}
	return conds
}

// upTo renders "key <= hi" for a composite key, the mirror of after:
//
//	k1 <= v1 AND (k1 < v1 OR (k1 = v1 AND (k2 < v2 OR (k2 = v2 AND k3 <= v3))))
func (b *sqlBuilder) upTo(keys []column, hi []any) string {
	q := func(i int) string { return b.d.quote(keys[i].Source) }
	var inner func(i int) string
	inner = func(i int) string {
		if i == len(keys)-1 {
			return q(i) + " <= " + b.param(&keys[i], hi[i])
		}
		return "(" + q(i) + " < " + b.param(&keys[i], hi[i]) + " OR (" + q(i) + " = " + b.param(&keys[i], hi[i]) + " AND " + inner(i+1) + "))"
	}
	if len(keys) == 1 {
		return "(" + inner(0) + ")"
	}
	return "(" + q(0) + " <= " + b.param(&keys[0], hi[0]) + " AND " + inner(0) + ")"
}

// DigestUnsupported says why the source cannot digest the entity's
// ranges exactly ("" when it can): a server too old for the canonical
// forms, (MySQL) one that prints doubles with fewer digits than tell them
// apart for an entity with floating-point columns, or a server that
// refuses the digest statement for its columns. Such an entity is read in
// full every run, as without range digests.
func (s *Source) DigestUnsupported(ctx context.Context, e *Entity) (string, error) {
	s.probeOnce.Do(func() {
		s.probe, s.probeErr = s.d.digestProbe(ctx, s.db)
		s.probeErr = s.redact(s.probeErr)
	})
	if s.probeErr != nil {
		return "", fmt.Errorf("checking what the source can digest: %w", s.probeErr)
	}
	if s.probe.unsupported != "" {
		return s.probe.unsupported, nil
	}
	for _, c := range e.cols {
		if c.Kind == schema.KindFloat && s.probe.inexactFloats != "" {
			return fmt.Sprintf("column %s is %s and %s", c.Source, c.raw.FullType, s.probe.inexactFloats), nil
		}
	}
	// The statement over no rows: a server that cannot run it for these
	// columns says so now, and the entity is read as before rather than
	// not at all.
	q := s.d.rangeDigestQuery(e.cols, e.Spec.Query != "", "0", e.from, "1 = 0")
	if err := s.d.query(ctx, s.db, q, nil, func([]any) error { return nil }); err != nil {
		return fmt.Sprintf("the source cannot digest its rows: %v", s.redact(err)), nil
	}
	return "", nil
}

// digestProbe is what a dialect found its server can digest.
type digestProbe struct {
	// unsupported: no entity can be digested, and why.
	unsupported string
	// inexactFloats: floating-point columns cannot be, and why.
	inexactFloats string
}

// asUint64 reads an unsigned integer a driver returned as a number or
// as its text.
func asUint64(v any) (uint64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int64:
		return uint64(x), nil
	case uint64:
		return x, nil
	case []byte:
		return strconv.ParseUint(string(x), 10, 64)
	case string:
		return strconv.ParseUint(x, 10, 64)
	}
	return 0, fmt.Errorf("want an unsigned integer, got %T", v)
}

// --- MySQL/MariaDB -------------------------------------------------------

// mysqlRowText is a row's canonical text: CONCAT_WS with a binary
// separator (so every piece is taken as its bytes, whatever its character
// set) of, in schema order, each column's value, then the byte length of
// each text or binary column. Values of numbers, dates and times, BIT,
// ENUM and SET (as their index and mask: one-to-one with the members of
// the definition, which the shape includes) have no '#' in them; text and
// bytes may, and their lengths, at the end, say where each ends. A NULL
// number reads 'N' (no number does); a NULL text is left out by CONCAT_WS
// and its length reads 'N' (” has length 0). So two rows have one text
// only when every value is the same: the text is one-to-one with the row.
// FLOAT is widened to DOUBLE exactly, and a DOUBLE prints with the digits
// that tell it from its neighbours (checked by digestProbe). castText:
// text columns are cast to their bytes (mysqlDigestValue); without, they
// must all be of one UTF-8 character set and collation
// (mysqlUniformText).
func mysqlRowText(cols []column, nullable func(c *column) bool, castText bool) string {
	var vals, lens []string
	for i := range cols {
		c := &cols[i]
		v, l := mysqlDigestValue(c, castText)
		null := nullable(c)
		if l != "" {
			vals = append(vals, v)
			if null {
				l = "IFNULL(" + l + ", 'N')"
			}
			lens = append(lens, l)
			continue
		}
		if null {
			v = "IFNULL(" + v + ", 'N')"
		}
		vals = append(vals, v)
	}
	return "CONCAT_WS(_binary'#', " + strings.Join(append(vals, lens...), ", ") + ")"
}

// mysqlDigestValue is the expression of a column's value in the row text
// and, for text or bytes (length-counted rather than values of a fixed
// alphabet), the expression of its length in bytes ("" otherwise).
// castText casts text to its bytes; the caller leaves it out only where
// that changes no byte (mysqlUniformText).
func mysqlDigestValue(c *column, castText bool) (value, length string) {
	col := mysqlDialect{}.quote(c.Source)
	switch c.codec.Def.Base {
	case "float":
		return "CAST(" + col + " AS DOUBLE)", ""
	case "bit":
		return "CAST(" + col + " AS UNSIGNED)", ""
	case "enum", "set":
		return "(" + col + "+0)", ""
	case "uuid", "inet4", "inet6":
		return col, "" // hex digits, '-', ':' and '.'
	case "json":
		v := "CAST(CONVERT(" + col + " USING utf8mb4) AS BINARY)"
		return v, "LENGTH(" + v + ")"
	}
	switch {
	case mysqlPlainText(c):
		// Its own bytes, whatever its character set (no conversion), and
		// no collation to mix with another column's (MariaDB refuses to
		// concatenate utf8mb4_bin and utf8mb4_nopad_bin text, say).
		// LENGTH counts the bytes of the column's own character set, the
		// very bytes the cast gives: the server need not cast twice (a
		// tenth of a digest's CPU for a table with three text columns).
		if !castText {
			return col, "LENGTH(" + col + ")"
		}
		return "CAST(" + col + " AS BINARY)", "LENGTH(" + col + ")"
	case c.Kind == schema.KindBytes:
		return col, "LENGTH(" + col + ")"
	}
	return col, ""
}

// mysqlPlainText: the column's piece of the row text is its text, as
// bytes of its own character set (not a JSON, ENUM, SET, UUID or INET
// column's, which mysqlDigestValue handles as their types need).
func mysqlPlainText(c *column) bool {
	switch c.codec.Def.Base {
	case "float", "bit", "enum", "set", "uuid", "inet4", "inet6", "json":
		return false
	}
	return c.Kind == schema.KindString
}

// mysqlRowHash is the first 64 bits of the SHA1 of the row text, as an
// unsigned integer.
func mysqlRowHash(cols []column, nullable func(c *column) bool, castText bool) string {
	return "CAST(CONV(LEFT(SHA1(" + mysqlRowText(cols, nullable, castText) + "), 16), 16, 10) AS UNSIGNED)"
}

// mysqlUniformText reports whether a table's text columns can go into its
// row text uncast: all of one UTF-8 character set and one collation.
// CONCAT_WS then converts none of them (the _binary separator gives way
// to the columns' character set, and numbers, dates and bytes print in
// ASCII either way), so the row text holds the bytes the casts give, and
// one collation leaves nothing to mix (MariaDB refuses utf8mb4_bin beside
// utf8mb4_nopad_bin, say). The casts cost the server as much as the text
// columns themselves: 0.19 s of CPU a digest of 1M rows of three. A
// query's columns keep them: their character sets come from result
// metadata, not the catalog.
func mysqlUniformText(cols []column, query bool) bool {
	if query {
		return false
	}
	var charset, collation string
	for i := range cols {
		c := &cols[i]
		if !mysqlPlainText(c) {
			continue
		}
		switch c.raw.Charset {
		case "utf8mb4", "utf8mb3", "utf8":
		default:
			return false
		}
		if c.raw.Collation == "" || charset != "" && (c.raw.Charset != charset || c.raw.Collation != collation) {
			return false
		}
		charset, collation = c.raw.Charset, c.raw.Collation
	}
	return true
}

// mysqlNullable: a column the catalog says is NOT NULL, or a key column,
// holds no NULL; any other column of a query might (its result metadata
// is not trusted with this: a NULL left out unmarked would make two rows
// one text).
func mysqlNullable(query bool) func(c *column) bool {
	return func(c *column) bool { return c.Key == 0 && (query || c.raw.Nullable || c.Nullable) }
}

// rowDigester is how a page read hashes a row for its digest: exprs are
// selected after the row's columns, and hash appends the row's hash
// pieces (schema.SourceDigest.Add's) to buf from the values read, the
// columns then exprs; scratch is a buffer hash may reuse.
type rowDigester struct {
	exprs []string
	hash  func(buf []uint64, scratch []byte, vals []any) ([]uint64, []byte, error)
}

// mysqlReadsDigestValue reports whether the value a page read selects for
// the column (Codec.Select, through the text protocol in utf8mb4) is the
// very bytes of its piece of the row text (mysqlDigestValue): integers,
// decimals, dates and times print alike both ways, UTF-8 text arrives
// unconverted, bytes as they are. Anything else (floats, BIT, YEAR, ENUM,
// SET, JSON, UUID, text in another character set, ZEROFILL) has its piece
// selected as well.
func mysqlReadsDigestValue(c *column) bool {
	if strings.Contains(strings.ToLower(c.raw.FullType), "zerofill") {
		return false
	}
	switch c.codec.Def.Base {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
		"date", "datetime", "timestamp", "time":
		// Not YEAR: the driver parses it as a number, and YEAR 0 prints
		// 0000.
		return true
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return c.Kind == schema.KindString && !c.codec.IsRaw()
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return c.Kind == schema.KindBytes
	}
	return false
}

// rowDigest builds mysqlRowHash's text in Go — CONCAT_WS's rules: NULL
// arguments left out, the rest joined by '#' — and takes the first 64
// bits of its SHA1, as CONV(LEFT(SHA1(…), 16), 16, 10) does.
func (mysqlDialect) rowDigest(cols []column, query bool) rowDigester {
	nullable := mysqlNullable(query)
	type piece struct {
		at         int // index of the value in a row read
		col        int
		text, null bool
	}
	var exprs []string
	pieces := make([]piece, len(cols))
	for i := range cols {
		c := &cols[i]
		expr, length := mysqlDigestValue(c, true)
		text := length != ""
		p := piece{at: i, col: i, text: text, null: nullable(c)}
		if !mysqlReadsDigestValue(c) {
			// The piece as mysqlRowText has it (IFNULL's 'N' too: it is
			// NULL where the column's type cannot take 'N', as UUID's
			// cannot), as CONCAT_WS takes it: as bytes, never parsed by the
			// driver (which would print a DOUBLE otherwise).
			if p.null && !text {
				expr, p.null = "IFNULL("+expr+", 'N')", false
			}
			expr = "CONCAT(_binary'', " + expr + ")"
			p.at = len(cols) + len(exprs)
			exprs = append(exprs, expr)
		}
		pieces[i] = p
	}
	hash := func(buf []uint64, text []byte, vals []any) ([]uint64, []byte, error) {
		text = text[:0]
		first := true
		add := func(v []byte) {
			if !first {
				text = append(text, '#')
			}
			first = false
			text = append(text, v...)
		}
		var num [24]byte
		value := func(p piece) ([]byte, bool, error) {
			// The driver parses the text protocol's integers; their text
			// is the server's.
			switch v := vals[p.at].(type) {
			case nil:
				return nil, true, nil
			case []byte:
				return v, false, nil
			case int64:
				return strconv.AppendInt(num[:0], v, 10), false, nil
			case uint64:
				return strconv.AppendUint(num[:0], v, 10), false, nil
			}
			return nil, false, fmt.Errorf("row digest: unexpected %T for column %s", vals[p.at], cols[p.col].Source)
		}
		for _, p := range pieces {
			v, isNull, err := value(p)
			if err != nil {
				return buf, text, err
			}
			switch {
			case !isNull:
				add(v)
			case p.null && !p.text:
				add(nullPiece)
			}
		}
		var n [20]byte
		for _, p := range pieces {
			if !p.text {
				continue
			}
			v, isNull, _ := value(p)
			switch {
			case !isNull:
				add(strconv.AppendInt(n[:0], int64(len(v)), 10))
			case p.null:
				add(nullPiece)
			}
		}
		sum := sha1.Sum(text)
		return append(buf, binary.BigEndian.Uint64(sum[:8])), text, nil
	}
	return rowDigester{exprs: exprs, hash: hash}
}

// nullPiece is what IFNULL(…, 'N') reads for a NULL.
var nullPiece = []byte("N")

func (mysqlDialect) rangeDigestQuery(cols []column, query bool, label, from, where string) string {
	q := "SELECT " + label + ", COUNT(*), BIT_XOR(" + mysqlRowHash(cols, mysqlNullable(query), !mysqlUniformText(cols, query)) + ") FROM " + from
	if where != "" {
		q += " WHERE " + where
	}
	return q
}

func (mysqlDialect) newDigest() schema.SourceDigest { return schema.SourceDigest{} }

func (mysqlDialect) scanRangeDigest(vals []any) (schema.SourceDigest, error) {
	var d schema.SourceDigest
	if len(vals) != 2 {
		return d, fmt.Errorf("range digest: %d columns", len(vals))
	}
	n, err := asUint64(vals[0])
	if err != nil {
		return d, fmt.Errorf("range digest count: %w", err)
	}
	x, err := asUint64(vals[1])
	if err != nil {
		return d, fmt.Errorf("range digest: %w", err)
	}
	d.Count, d.Parts[0] = int64(n), x
	return d, nil
}

// mysqlFloatProbe holds doubles one bit apart: the server must print each
// pair differently for the row text to tell them apart (MariaDB 10.4+ and
// MySQL 8 print the shortest text that reads back exactly; older servers
// may print 15 digits).
const mysqlFloatProbe = `SELECT CONCAT(0.1e0 + 0.2e0) <> CONCAT(0.3e0), CONCAT(1.0000000000000002e0) <> CONCAT(1e0),
  CONCAT(1.7976931348623157e308) <> CONCAT(1.7976931348623155e308), CONCAT(5e-324) <> CONCAT(1e-323),
  CONCAT(CAST(CAST(16777217e0 AS FLOAT) AS DOUBLE)) <> CONCAT(CAST(CAST(16777218e0 AS FLOAT) AS DOUBLE)), LENGTH(SHA1('x'))`

func (d mysqlDialect) digestProbe(ctx context.Context, db *sql.DB) (digestProbe, error) {
	var p digestProbe
	err := d.readOnly(ctx, db, func(q querier) error {
		var a, b, c, e, f, n int64
		if err := q.QueryRowContext(ctx, mysqlFloatProbe).Scan(&a, &b, &c, &e, &f, &n); err != nil {
			return err
		}
		if a == 0 || b == 0 || c == 0 || e == 0 || f == 0 {
			p.inexactFloats = "this server prints doubles with too few digits to tell a change in the last bit (MariaDB 10.4 or later and MySQL 8 do)"
		}
		if n != 40 {
			p.unsupported = "the server has no SHA1()"
		}
		return nil
	})
	return p, err
}

// --- SQL Server ------------------------------------------------------------

// mssqlRowBytes is a row's canonical bytes: each column's piece in schema
// order, joined by '#' (0x23), as varbinary(max). A piece is the value's
// text in a form that is exact for its type (below) — numbers, dates and
// times, GUIDs: an alphabet without '#' — or, for text and bytes, its
// byte length, ':' and its bytes as stored (the code page's, UTF-16 for
// nchar and nvarchar, UTF-8 for a _UTF8 collation: no conversion can turn
// two values into one). NULL reads 'N', which no piece is. So the bytes
// are one-to-one with the row.
func mssqlRowBytes(cols []column, nullable func(c *column) bool) string {
	parts := make([]string, len(cols))
	for i := range cols {
		c := &cols[i]
		p := mssqlDigestPiece(c)
		if nullable(c) {
			p = "ISNULL(" + p + ", 0x4E)"
		}
		parts[i] = p
	}
	return "CAST(0x AS varbinary(max)) + " + strings.Join(parts, " + 0x23 + ")
}

// mssqlDigestPiece is a column's piece of the row bytes, as varbinary.
//
//   - integers, bit, decimal and numeric: their text (decimals with every
//     digit of their scale); money and smallmoney with four decimals
//     (style 2: the default shows two).
//   - float: style 3, the 17 significant digits that tell every double
//     apart; real widened to float first.
//   - datetime: style 121 (yyyy-mm-dd hh:mi:ss.mmm); smalldatetime: 120;
//     date, time, datetime2 and datetimeoffset: their own text, with every
//     fractional digit of their scale (and the offset).
//   - uniqueidentifier: its 36 characters.
//   - text types: length and bytes; xml through nvarchar(max).
//   - binary types, rowversion and the CLR types (geography, geometry,
//     hierarchyid): length and bytes (their own serialisation, which
//     tells apart at least what their text does).
func mssqlDigestPiece(c *column) string {
	col := mssqlDialect{}.quote(c.Source)
	text := func(expr string) string { return "CAST(" + expr + " AS varbinary(max))" }
	counted := func(expr string) string {
		return "CAST(CONVERT(varchar(20), DATALENGTH(" + expr + ")) + ':' AS varbinary(max)) + CAST(" + expr + " AS varbinary(max))"
	}
	switch c.raw.Type {
	case "tinyint", "smallint", "int", "bigint":
		return text("CONVERT(varchar(20), " + col + ")")
	case "bit":
		return text("CONVERT(varchar(1), " + col + ")")
	case "decimal", "numeric":
		return text("CONVERT(varchar(48), " + col + ")")
	case "money", "smallmoney":
		return text("CONVERT(varchar(32), " + col + ", 2)")
	case "float":
		return text("CONVERT(varchar(32), " + col + ", 3)")
	case "real":
		return text("CONVERT(varchar(32), CAST(" + col + " AS float), 3)")
	case "datetime":
		return text("CONVERT(varchar(23), " + col + ", 121)")
	case "smalldatetime":
		return text("CONVERT(varchar(19), " + col + ", 120)")
	case "date", "time", "datetime2", "datetimeoffset":
		return text("CAST(" + col + " AS varchar(40))")
	case "uniqueidentifier":
		return text("CONVERT(char(36), " + col + ")")
	case "xml":
		return counted("CAST(" + col + " AS nvarchar(max))")
	}
	return counted(col)
}

// mssqlNullable: the catalog's nullability (a query's result is described
// by SQL Server too, which knows); key columns hold no NULL.
func mssqlNullable(c *column) bool { return c.Key == 0 && (c.raw.Nullable || c.Nullable) }

// mssqlRowHash is SHA2_256 of the row bytes.
func mssqlRowHash(cols []column) string {
	return "HASHBYTES('SHA2_256', " + mssqlRowBytes(cols, mssqlNullable) + ")"
}

// rowDigest selects each row's hash: SQL Server's text of its values
// (mssqlDigestPiece) is not what a page read gets.
func (mssqlDialect) rowDigest(cols []column, _ bool) rowDigester {
	at := len(cols)
	return rowDigester{exprs: []string{mssqlRowHash(cols)}, hash: func(buf []uint64, scratch []byte, vals []any) ([]uint64, []byte, error) {
		p, err := mssqlRowPieces(vals[at])
		return append(buf, p[:]...), scratch, err
	}}
}

// rangeDigestQuery sums four 32-bit pieces of each row's hash (each below
// 2^32, so a bigint sum of fewer than 2^31 rows cannot overflow). The
// hash is computed once a row, in the CROSS APPLY.
func (mssqlDialect) rangeDigestQuery(cols []column, _ bool, label, from, where string) string {
	var sums []string
	for i := range 4 {
		sums = append(sums, fmt.Sprintf("ISNULL(SUM(CAST(SUBSTRING(sisporta_h.h, %d, 4) AS bigint)), 0)", 1+4*i))
	}
	q := "SELECT " + label + ", COUNT_BIG(*), " + strings.Join(sums, ", ") + " FROM " + from +
		" CROSS APPLY (SELECT " + mssqlRowHash(cols) + " AS h) AS sisporta_h"
	if where != "" {
		q += " WHERE " + where
	}
	return q
}

func (mssqlDialect) newDigest() schema.SourceDigest { return schema.SourceDigest{Sum: true} }

// mssqlRowPieces are the four 32-bit pieces of a row's hash that
// rangeDigestQuery sums.
func mssqlRowPieces(v any) ([4]uint64, error) {
	h, ok := v.([]byte)
	if !ok || len(h) < 16 {
		return [4]uint64{}, fmt.Errorf("row digest: want 32 bytes, got %T", v)
	}
	return [4]uint64{uint64(binary.BigEndian.Uint32(h[0:])), uint64(binary.BigEndian.Uint32(h[4:])),
		uint64(binary.BigEndian.Uint32(h[8:])), uint64(binary.BigEndian.Uint32(h[12:]))}, nil
}

func (mssqlDialect) scanRangeDigest(vals []any) (schema.SourceDigest, error) {
	d := schema.SourceDigest{Sum: true}
	if len(vals) != 5 {
		return d, fmt.Errorf("range digest: %d columns", len(vals))
	}
	n, err := asUint64(vals[0])
	if err != nil {
		return d, fmt.Errorf("range digest count: %w", err)
	}
	d.Count = int64(n)
	for i := range 4 {
		if d.Parts[i], err = asUint64(vals[i+1]); err != nil {
			return d, fmt.Errorf("range digest: %w", err)
		}
	}
	return d, nil
}

// mssqlDigestProbeQuery fails on servers before SQL Server 2016, which
// have neither float style 3 nor HASHBYTES of more than 8000 bytes.
const mssqlDigestProbeQuery = `SELECT CONVERT(varchar(32), CAST(0.1 AS float), 3),
  DATALENGTH(HASHBYTES('SHA2_256', CAST(REPLICATE(CAST('x' AS varchar(max)), 9000) AS varbinary(max))))`

func (d mssqlDialect) digestProbe(ctx context.Context, db *sql.DB) (digestProbe, error) {
	var p digestProbe
	var f string
	var n int64
	if err := db.QueryRowContext(ctx, mssqlDigestProbeQuery).Scan(&f, &n); err != nil || n != 32 {
		p.unsupported = "range digests need SQL Server 2016 or later (float style 3, HASHBYTES of more than 8000 bytes)"
	}
	return p, nil
}
