// Package mysqltype says how values of one MySQL/MariaDB column travel so
// that the two ends agree exactly: the expression that reads a value as its
// canonical text, the expression and argument that compare a key value in
// the server's own key order, and the literal that writes it back.
//
// Both the MySQL source and the target use it, so a value read from either
// has the same canonical bytes, and a key range means the same rows on both.
// The cases it exists for:
//
//   - FLOAT prints six significant digits in the text protocol: it is read
//     as CAST(col AS DOUBLE), which widens the stored binary value exactly,
//     and every float is canonicalised as the shortest text of that double.
//   - BIT is a binary string to the text protocol, but compares with binary
//     strings in a way that does not follow its order: it travels as its
//     unsigned integer value (written back as an integer, which BIT takes).
//   - ENUM sorts by member index and SET by bit mask, while a comparison with
//     a string compares text: keyset bounds are given as the index or mask.
//   - Text in a character set other than UTF-8 (latin1, cp1251 …) is read
//     as its own bytes (CAST AS BINARY) and written back as a hex literal
//     with that character set's introducer: bytes the connection's utf8mb4
//     could not represent survive, where conversion would make them '?'.
//   - Integer and decimal bounds are typed arguments, never strings that a
//     server may compare as doubles.
package mysqltype

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sisporta/sisporta/runner/schema"
)

// Def is a parsed MySQL column definition.
type Def struct {
	// Base is the lower-case type name: int, varchar, enum, float ...
	Base string
	// Args is what the parentheses hold, except for enum and set: "10", "19,4".
	Args string
	// Members of an enum or set, unescaped, in definition order.
	Members []string
	// Unsigned integer or decimal.
	Unsigned bool
	// Charset and Collation named by the definition (lower case), if any.
	Charset, Collation string
}

// Parse reads a column definition as information_schema.COLUMNS.COLUMN_TYPE
// writes it, optionally followed by CHARACTER SET and COLLATE clauses, as
// Sisporta's schema types are: "varchar(20) CHARACTER SET latin1 COLLATE
// latin1_swedish_ci", "enum('a','b”c')", "BIGINT UNSIGNED", "DECIMAL(19,4)".
func Parse(def string) (Def, error) {
	var d Def
	s := strings.TrimSpace(def)
	i := 0
	for i < len(s) && (isLetter(s[i]) || (i > 0 && s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	if i == 0 {
		return d, fmt.Errorf("column type %q does not start with a type name", def)
	}
	d.Base = strings.ToLower(s[:i])
	rest := s[i:]
	if strings.HasPrefix(rest, "(") {
		if d.Base == "enum" || d.Base == "set" {
			members, n, err := parseMembers(rest)
			if err != nil {
				return d, fmt.Errorf("column type %q: %w", def, err)
			}
			d.Members, rest = members, rest[n:]
		} else {
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				return d, fmt.Errorf("column type %q has an unclosed parenthesis", def)
			}
			d.Args, rest = strings.ReplaceAll(rest[1:end], " ", ""), rest[end+1:]
		}
	}
	words := strings.Fields(rest)
	for j := 0; j < len(words); j++ {
		w := strings.ToLower(words[j])
		switch {
		case w == "unsigned":
			d.Unsigned = true
		case w == "character" && j+2 < len(words) && strings.EqualFold(words[j+1], "set"):
			d.Charset = strings.ToLower(words[j+2])
			j += 2
		case w == "charset" && j+1 < len(words):
			d.Charset = strings.ToLower(words[j+1])
			j++
		case w == "collate" && j+1 < len(words):
			d.Collation = strings.ToLower(words[j+1])
			j++
		}
	}
	if d.Charset == "" && d.Collation != "" {
		d.Charset, _, _ = strings.Cut(d.Collation, "_")
	}
	return d, nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

// parseMembers reads "('a','b”c','d\\e')" as COLUMN_TYPE writes it, and
// returns the members and the bytes consumed.
func parseMembers(s string) ([]string, int, error) {
	var out []string
	i := 1 // after '('
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return nil, 0, fmt.Errorf("unterminated member list")
		}
		if s[i] == ')' {
			return out, i + 1, nil
		}
		if s[i] != '\'' {
			return nil, 0, fmt.Errorf("member list: want a quoted member at %d", i)
		}
		i++
		var b strings.Builder
		for {
			if i >= len(s) {
				return nil, 0, fmt.Errorf("unterminated member")
			}
			c := s[i]
			if c == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				i++
				break
			}
			if c == '\\' && i+1 < len(s) {
				b.WriteByte(unescape(s[i+1]))
				i += 2
				continue
			}
			b.WriteByte(c)
			i++
		}
		out = append(out, b.String())
	}
}

// unescape is MySQL's string-literal escape.
func unescape(c byte) byte {
	switch c {
	case '0':
		return 0
	case 'b':
		return '\b'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'Z':
		return 0x1a
	}
	return c
}

// KindOf is the canonical kind of a MySQL base type's values; ok is false
// for types Sisporta does not carry (spatial types).
func KindOf(base string) (schema.Kind, bool) {
	switch base {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year", "bit":
		return schema.KindInt, true // BIT travels as its number
	case "decimal", "numeric":
		return schema.KindDecimal, true
	case "float", "double", "real":
		return schema.KindFloat, true
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json",
		"uuid", "inet4", "inet6":
		return schema.KindString, true
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return schema.KindBytes, true
	case "date":
		return schema.KindDate, true
	case "datetime", "timestamp":
		return schema.KindDateTime, true
	case "time":
		return schema.KindTime, true
	}
	return "", false
}

// utf8Charsets are read and written as text through the utf8mb4
// connection without loss; every other character set travels as its bytes.
var utf8Charsets = map[string]bool{"utf8mb4": true, "utf8mb3": true, "utf8": true}

// textTypes hold arbitrary characters of their character set. ENUM and SET
// are not among them: their values are members of their definition, which
// every character set maps to Unicode.
var textTypes = map[string]bool{
	"char": true, "varchar": true, "tinytext": true, "text": true, "mediumtext": true, "longtext": true,
}

// Codec reads, compares and writes the values of one column.
type Codec struct {
	Def   Def
	Kind  schema.Kind
	Scale int
	// raw: text in a non-UTF-8 character set, carried as its own bytes.
	raw bool
}

// For returns the codec of a column whose Type is a MySQL definition.
func For(c *schema.Column) (Codec, error) {
	d, err := Parse(c.Type)
	if err != nil {
		return Codec{}, err
	}
	k := Codec{Def: d, Kind: c.Kind, Scale: c.Scale}
	k.raw = c.Kind == schema.KindString && textTypes[d.Base] && d.Charset != "" && !utf8Charsets[d.Charset]
	return k, nil
}

// IsRaw reports text in a non-UTF-8 character set, whose canonical values
// are its own bytes.
func (k Codec) IsRaw() bool { return k.raw }

// Codecs returns the codecs of columns in order.
func Codecs(cols []schema.Column) ([]Codec, error) {
	out := make([]Codec, len(cols))
	for i := range cols {
		k, err := For(&cols[i])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", cols[i].Name, err)
		}
		out[i] = k
	}
	return out, nil
}

// RawCharset is the character set whose bytes the column's text travels
// as ("" for UTF-8 text and non-text columns).
func (k Codec) RawCharset() string {
	if k.raw {
		return k.Def.Charset
	}
	return ""
}

// Select is the expression that reads the column (quoted) as canonical text.
func (k Codec) Select(col string) string {
	switch {
	case k.Def.Base == "float":
		return "CAST(" + col + " AS DOUBLE)"
	case k.Def.Base == "bit":
		return "CAST(" + col + " AS UNSIGNED)"
	case k.raw:
		return "CAST(" + col + " AS BINARY)"
	case k.Def.Base == "enum":
		// ENUM's error value (index 0, which a non-strict insert writes for
		// a non-member) reads as '' like a member '' would: tell it apart.
		return "CASE WHEN " + col + "+0 = 0 THEN CONVERT(X'00' USING utf8mb4) ELSE " + col + " END"
	}
	return col
}

// ErrEnumErrorValue is ENUM's error value, read through Select.
var ErrEnumErrorValue = fmt.Errorf("it holds ENUM's error value (index 0, shown as ''), which a non-strict insert writes for a value that is not a member; a strict target cannot store it, and a member '' is another value: set the row to a member in the source")

// enumErrorValue is how Select reads ENUM's error value.
const enumErrorValue = "\x00"

// Canonical finishes a value read with Select: floats become the shortest
// text of their double (servers print them in different notations).
func (k Codec) Canonical(v []byte) ([]byte, error) {
	switch {
	case v == nil:
		return v, nil
	case k.Kind == schema.KindFloat:
		return NormalizeFloat(v)
	case k.Def.Base == "enum" && string(v) == enumErrorValue:
		return nil, ErrEnumErrorValue
	}
	return v, nil
}

// NormalizeFloat rewrites a number as the shortest text that reads back as
// the same double.
func NormalizeFloat(v []byte) ([]byte, error) {
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not a number", v)
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// Compare is the expression a key value is compared through (ph is the
// placeholder), so that the comparison follows the column's own order:
// decimals as decimals, text in the column's character set and collation.
func (k Codec) Compare(ph string) string {
	switch {
	case k.Kind == schema.KindDecimal:
		return fmt.Sprintf("CAST(%s AS DECIMAL(65,%d))", ph, k.decimalScale())
	case k.Def.Base == "enum" || k.Def.Base == "set":
		return ph // a number: the member index or bit mask
	case k.Kind == schema.KindString && k.Def.Charset != "" && k.Def.Collation != "":
		return "CONVERT(" + ph + " USING " + k.Def.Charset + ") COLLATE " + k.Def.Collation
	}
	return ph
}

// decimalScale is the fractional digits of a DECIMAL column (its
// definition's, else the schema's), within MySQL's 0..30.
func (k Codec) decimalScale() int {
	scale := k.Scale
	if _, s, ok := strings.Cut(k.Def.Args, ","); ok {
		if n, err := strconv.Atoi(s); err == nil {
			scale = n
		}
	} else if k.Def.Args != "" {
		scale = 0 // DECIMAL(p) has no fractional digits
	}
	return min(max(scale, 0), 30)
}

// Arg is the argument that goes with Compare for a canonical value.
func (k Codec) Arg(v []byte) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch {
	case k.Def.Base == "enum":
		for i, m := range k.Def.Members {
			if m == string(v) {
				return int64(i + 1), nil
			}
		}
		if len(v) == 0 {
			return int64(0), nil // the error value '' (index 0) of a non-strict insert
		}
		return nil, fmt.Errorf("%q is not a member of %s", v, k.Def.Base)
	case k.Def.Base == "set":
		return k.setMask(v)
	case k.Kind == schema.KindInt || k.Kind == schema.KindBool:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n, nil
		}
		if n, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return n, nil
		}
		return nil, fmt.Errorf("%q is not an integer", v)
	case k.Kind.IsBinary() || k.raw:
		return v, nil
	}
	return string(v), nil
}

func (k Codec) setMask(v []byte) (uint64, error) {
	if len(v) == 0 {
		return 0, nil
	}
	var mask uint64
	for _, part := range strings.Split(string(v), ",") {
		found := false
		for i, m := range k.Def.Members {
			if m == part && i < 64 {
				mask |= 1 << i
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("%q is not a member of set", part)
		}
	}
	return mask, nil
}

// AppendLiteral writes a canonical value as a MySQL literal for the
// column. Upserts are rendered as SQL text: it spares the driver's
// per-argument conversion of thousands of arguments per batch. The
// session's sql_mode is Sisporta's (no NO_BACKSLASH_ESCAPES, no
// ANSI_QUOTES), so backslash escaping is the right one.
func (k Codec) AppendLiteral(b []byte, v []byte) []byte {
	switch {
	case v == nil:
		return append(b, "NULL"...)
	case k.raw:
		b = append(b, '_')
		b = append(b, k.Def.Charset...)
		return appendHex(append(b, ' '), v)
	case k.Kind.IsBinary():
		// Escaped rather than hex: bytes keep their size (hex doubles it).
		return AppendQuoted(append(b, "_binary"...), v)
	case (k.Kind == schema.KindInt || k.Kind == schema.KindDecimal || k.Kind == schema.KindBool) && plainNumber(v):
		return append(b, v...)
	}
	return AppendQuoted(b, v)
}

func appendHex(b, v []byte) []byte {
	b = append(b, "X'"...)
	for _, x := range v {
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return append(b, '\'')
}

// AppendQuoted writes v as a quoted, backslash-escaped string literal.
func AppendQuoted(b, v []byte) []byte {
	b = append(b, '\'')
	for _, x := range v {
		switch x {
		case 0:
			b = append(b, '\\', '0')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\\':
			b = append(b, '\\', '\\')
		case '\'':
			b = append(b, '\\', '\'')
		case '"':
			b = append(b, '\\', '"')
		case 0x1a:
			b = append(b, '\\', 'Z')
		default:
			b = append(b, x)
		}
	}
	return append(b, '\'')
}

// Param is v as an argument of a server-side prepared statement, which
// carries bytes as they are (no escaping): the form for rows too large to
// write as SQL text. Numbers are typed (BIT takes a number, not its text).
func (k Codec) Param(v []byte) any {
	switch {
	case v == nil:
		return nil
	case k.Kind.IsBinary() || k.raw:
		return v
	case (k.Kind == schema.KindInt || k.Kind == schema.KindBool) && k.Def.Base != "enum" && k.Def.Base != "set":
		if a, err := k.Arg(v); err == nil {
			return a
		}
	}
	return string(v)
}

// LiteralBytes is how many bytes AppendLiteral writes for v (for sizing
// statements under the server's packet limit without rendering twice).
func (k Codec) LiteralBytes(v []byte) int {
	switch {
	case v == nil:
		return 4
	case k.raw:
		return 5 + len(k.Def.Charset) + 2*len(v)
	case (k.Kind == schema.KindInt || k.Kind == schema.KindDecimal || k.Kind == schema.KindBool) && plainNumber(v):
		return len(v)
	}
	n := 2 + len(v)
	if k.Kind.IsBinary() {
		n += len("_binary")
	}
	for _, x := range v {
		switch x {
		case 0, '\n', '\r', '\\', '\'', '"', 0x1a:
			n++
		}
	}
	return n
}

const hexDigits = "0123456789ABCDEF"

// plainNumber accepts -?digits(.digits)? only: anything else is quoted and
// left to MySQL to convert (or refuse).
func plainNumber(v []byte) bool {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	digits, dot := 0, false
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0:
			dot = true
		default:
			return false
		}
	}
	return digits > 0 && v[len(v)-1] != '.'
}

// intRank orders the integer types by range.
var intRank = map[string]int{"tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "integer": 4, "bigint": 5}

// KeyMismatch says why a target key column of definition have cannot hold
// and compare the keys of a source key column of definition want (kind is
// the source's) exactly as the source does, or "" when it can. Text keys
// must share the collation (defaultCollation stands for a definition that
// names none); numbers must not narrow; dates and times must keep their
// fractional digits; fixed-width types must keep their width.
func KeyMismatch(want Def, kind schema.Kind, have Def, defaultCollation string) string {
	wantColl := want.Collation
	if wantColl == "" {
		wantColl = defaultCollation
	}
	return keyMismatch(want, kind, have, func() string {
		if wantColl != "" && have.Collation != wantColl {
			return "the collations differ, so keys the source tells apart could merge (or keys it calls equal could part)"
		}
		return ""
	})
}

// KeyMismatchAtLeast is KeyMismatch for a source text key that compares
// as cmp (schema.Column.Compare): the target's collation may tell apart
// more than the source's, never less. A finer target keeps apart keys
// the source calls equal, which it never holds twice; a coarser one
// merges keys the source tells apart ('José' and 'Jose' into one row).
func KeyMismatchAtLeast(want Def, kind schema.Kind, have Def, cmp schema.TextCompare) string {
	return keyMismatch(want, kind, have, func() string {
		if have.Collation != "" && CollationRank(have.Collation) < CompareRank(cmp) {
			return fmt.Sprintf("the target's collation %s tells apart fewer keys than the source (which compares %s), so keys the source tells apart would merge into one row",
				have.Collation, compareWords[cmp])
		}
		return ""
	})
}

// compareWords says what a comparison tells apart, for messages.
var compareWords = map[schema.TextCompare]string{
	schema.CompareAccents: "accent-sensitively",
	schema.CompareCase:    "accent- and case-sensitively",
	schema.CompareBinary:  "every difference",
}

func keyMismatch(want Def, kind schema.Kind, have Def, collation func() string) string {
	haveKind, _ := KindOf(have.Base)
	if want.Base == "bit" && have.Base != "bit" {
		haveKind = ""
	}
	if haveKind != kind && !(kind == schema.KindUUID && haveKind == schema.KindString) && !(kind == schema.KindBool && haveKind == schema.KindInt) {
		return "they hold different kinds of values, which compare and sort differently"
	}
	width := func(d Def) int {
		n, _ := strconv.Atoi(strings.SplitN(d.Args, ",", 2)[0])
		return n
	}
	switch {
	case want.Base == "enum" || want.Base == "set":
		if have.Base != want.Base || strings.Join(have.Members, "\x00") != strings.Join(want.Members, "\x00") {
			return "the members differ, and " + want.Base + " values sort by their position among them"
		}
	case (kind == schema.KindString || kind == schema.KindUUID) && !textTypes[want.Base]:
		if have.Base != want.Base { // uuid, inet4, inet6, json: compared as their type
			return "they are different types"
		}
	case kind == schema.KindString || kind == schema.KindUUID:
		if have.Base == "char" && want.Base != "char" {
			return "CHAR drops the trailing spaces a VARCHAR keeps"
		}
		if why := collation(); why != "" {
			return why
		}
		if capacity(have) < capacity(want) {
			return "the target column is narrower"
		}
	case kind == schema.KindInt || kind == schema.KindBool:
		if want.Base == "bit" {
			if width(have) < max(width(want), 1) {
				return "the target column is narrower"
			}
			break
		}
		if want.Base == "year" || have.Base == "year" {
			if have.Base != want.Base {
				return "YEAR and integers read differently"
			}
			break
		}
		wr, hr := intRank[want.Base], intRank[have.Base]
		if hr < wr || (want.Unsigned != have.Unsigned && (!want.Unsigned || hr == wr)) {
			return "the target column cannot hold every value of the source's"
		}
	case kind == schema.KindDecimal:
		wp, ws := decimalArgs(want)
		hp, hs := decimalArgs(have)
		if hs != ws {
			return "their fractional digits differ, so keys would be rounded"
		}
		if hp-hs < wp-ws || (want.Unsigned != have.Unsigned && !want.Unsigned) {
			return "the target column cannot hold every value of the source's"
		}
	case kind == schema.KindDate, kind == schema.KindDateTime, kind == schema.KindTime:
		if have.Base != want.Base {
			return "they are different date and time types"
		}
		if width(have) != width(want) {
			return "their fractional seconds differ, so keys would be truncated or read back differently"
		}
	case kind == schema.KindBytes:
		if have.Base == "binary" && (want.Base != "binary" || width(have) != width(want)) {
			return "BINARY pads values to its width"
		}
		if capacity(have) < capacity(want) {
			return "the target column is narrower"
		}
	default:
		if have.Base != want.Base {
			return "they are different types"
		}
	}
	return ""
}

// capacity is the most bytes a text or binary column holds.
func capacity(d Def) int64 {
	switch d.Base {
	case "tinytext", "tinyblob":
		return 255
	case "text", "blob":
		return 65535
	case "mediumtext", "mediumblob":
		return 16777215
	case "longtext", "longblob", "json":
		return 4294967295
	}
	n, _ := strconv.ParseInt(strings.SplitN(d.Args, ",", 2)[0], 10, 64)
	if textTypes[d.Base] {
		n *= int64(charsetBytes(d.Charset))
	}
	return n
}

// charsetBytes is the most bytes a character takes in a character set
// (utf8mb4 when none is named: Sisporta creates utf8mb4 tables).
func charsetBytes(cs string) int {
	switch cs {
	case "latin1", "latin2", "ascii", "cp1250", "cp1251", "cp1256", "cp1257", "greek", "hebrew", "koi8r", "koi8u", "binary", "swe7", "dec8", "cp850", "cp852", "cp866", "macce", "macroman", "armscii8", "geostd8", "keybcs2", "tis620", "latin5", "latin7", "hp8":
		return 1
	case "utf8mb3", "utf8", "ucs2", "eucjpms", "ujis":
		return 3
	case "big5", "gbk", "sjis", "cp932", "euckr", "gb2312":
		return 2
	}
	return 4
}

func decimalArgs(d Def) (precision, scale int) {
	precision = 10
	if d.Args == "" {
		return precision, 0
	}
	p, s, _ := strings.Cut(d.Args, ",")
	precision, _ = strconv.Atoi(p)
	scale, _ = strconv.Atoi(s)
	return precision, scale
}

// Holding says how a column of one definition stores the values of
// another.
type Holding int

const (
	// Holds means every value is stored exactly.
	Holds Holding = iota
	// Refuses means some values are too large for the column, and strict mode
	// refuses them with an error (a narrower VARCHAR, INT or DECIMAL).
	Refuses
	// Alters means some values would be changed without an error (rounded to
	// fewer decimals or fractional seconds, padded, trimmed, converted).
	Alters
)

// HoldsValues says how a column of definition have stores the values of a
// column of definition want (kind is want's).
func HoldsValues(want Def, kind schema.Kind, have Def) Holding {
	haveKind, ok := KindOf(have.Base)
	if kind == schema.KindUUID && haveKind == schema.KindString {
		kind = schema.KindString // GUID text (CHAR(36)) is held as any text is
	}
	if !ok || haveKind != kind && !(kind == schema.KindBool && haveKind == schema.KindInt) {
		return Alters
	}
	width := func(d Def) int {
		n, _ := strconv.Atoi(strings.SplitN(d.Args, ",", 2)[0])
		return n
	}
	narrower := func(bigger bool) Holding {
		if bigger {
			return Holds
		}
		return Refuses
	}
	switch kind {
	case schema.KindInt, schema.KindBool:
		switch {
		case want.Base == "bit" || have.Base == "bit":
			if want.Base != have.Base {
				return Alters
			}
			return narrower(width(have) >= max(width(want), 1))
		case want.Base == "year" || have.Base == "year":
			if want.Base != have.Base {
				return Alters
			}
			return Holds
		}
		wr, hr := intRank[want.Base], intRank[have.Base]
		return narrower(hr > wr || (hr == wr && (want.Unsigned == have.Unsigned)) || (hr > wr && !have.Unsigned))
	case schema.KindDecimal:
		wp, ws := decimalArgs(want)
		hp, hs := decimalArgs(have)
		if hs < ws {
			return Alters // rounded to fewer decimals, with a note only
		}
		return narrower(hp-hs >= wp-ws && (have.Unsigned == want.Unsigned || want.Unsigned))
	case schema.KindFloat:
		if want.Base == "double" && have.Base == "float" {
			return Alters
		}
		return Holds
	case schema.KindDate, schema.KindDateTime, schema.KindTime:
		if have.Base != want.Base || width(have) < width(want) {
			return Alters // another type, or fewer fractional seconds: rounded
		}
		return Holds
	case schema.KindBytes:
		if have.Base == "binary" && (want.Base != "binary" || width(have) != width(want)) {
			return Alters // padded to its width
		}
		return narrower(capacity(have) >= capacity(want))
	case schema.KindString:
		switch {
		case want.Base == "enum" || want.Base == "set":
			if have.Base == want.Base {
				if len(have.Members) >= len(want.Members) && strings.Join(have.Members[:len(want.Members)], "\x00") == strings.Join(want.Members, "\x00") {
					return Holds
				}
				return Refuses
			}
			if !textTypes[have.Base] {
				return Alters
			}
		case !textTypes[want.Base] || !textTypes[have.Base]:
			if want.Base != have.Base && !(want.Base == "json" && textTypes[have.Base]) {
				return Alters
			}
			return Holds
		}
		if have.Base == "char" && want.Base != "char" {
			return Alters // trailing spaces trimmed
		}
		if !sameText(want.Charset, have.Charset) {
			return Refuses // characters the column's set lacks are refused
		}
		return narrower(capacity(have) >= capacity(want))
	}
	if have.Base != want.Base {
		return Alters
	}
	return Holds
}

// sameText reports whether text in character set want reads back the same
// from a column in set have (an unnamed set is utf8mb4).
func sameText(want, have string) bool {
	norm := func(cs string) string {
		if cs == "" || utf8Charsets[cs] {
			return "utf8"
		}
		return cs
	}
	return norm(want) == norm(have)
}

// CompareRank is how finely a source comparison tells text apart, on
// CollationRank's scale.
func CompareRank(c schema.TextCompare) int {
	switch c {
	case schema.CompareAccents:
		return 1
	case schema.CompareCase:
		return 2
	case schema.CompareBinary:
		return 3
	}
	return 0
}

// CollationRank is how finely a MySQL/MariaDB collation tells text apart:
// 0 ignores accents or case (*_ai_ci, *_general_ci, *_unicode_ci and
// every other plain *_ci), 1 tells accents apart but not case (*_as_ci),
// 2 tells case apart too (*_as_cs, *_cs), 3 compares code points
// (*_bin, binary). It reads the name's trailing attributes only: the
// Czech collations of MySQL 8 (utf8mb4_cs_0900_ai_ci) carry "cs" as their
// language, and the Japanese ones end in _ks.
func CollationRank(collation string) int {
	parts := strings.Split(strings.ToLower(collation), "_")
	if len(parts) == 1 && parts[0] == "binary" {
		return 3
	}
	for len(parts) > 1 && (parts[len(parts)-1] == "ks" || parts[len(parts)-1] == "ws") {
		parts = parts[:len(parts)-1] // kana- or width-sensitive: a finer case-sensitive collation
	}
	if len(parts) < 2 {
		return 0
	}
	switch last, prev := parts[len(parts)-1], parts[len(parts)-2]; {
	case last == "bin":
		return 3
	case last == "cs":
		return 2
	case last == "ci" && prev == "as":
		return 1
	}
	return 0
}

// CollationsFor lists, best first, the utf8mb4 collations that compare
// text as the source comparison c does (or finer): MySQL 8's, MariaDB's
// UCA 14 ones (10.10 and later), and utf8mb4_bin, which every server has.
// The target uses the first one it has.
func CollationsFor(c schema.TextCompare) []string {
	switch c {
	case schema.CompareAccents:
		return []string{"utf8mb4_0900_as_ci", "utf8mb4_uca1400_as_ci", "utf8mb4_bin"}
	case schema.CompareCase:
		return []string{"utf8mb4_0900_as_cs", "utf8mb4_uca1400_as_cs", "utf8mb4_bin"}
	case schema.CompareBinary:
		return []string{"utf8mb4_bin"}
	}
	return nil
}

// IsText reports whether a definition is a text type that takes a
// character set and collation (CHAR, VARCHAR, the TEXTs).
func IsText(d Def) bool { return textTypes[d.Base] }

// Exact is the expression that, applied to a key column (quoted) and to
// the placeholder of its value (with Arg's argument), yields values that
// are equal only when the column holds exactly that text; "" when the
// column's own equality is exact already (numbers, dates, bytes, ENUM).
// Collations call 'abc' and 'ABC' equal (case-insensitive ones), and
// 'x' and 'x ' equal (every PAD SPACE collation, utf8mb4_bin included):
// a delete meant for one spelling would remove the other. Binary strings
// compare byte by byte without padding, and converting to utf8mb4 first
// compares a latin1 (or any) column's text with the canonical UTF-8 value.
func (k Codec) Exact(x string) string {
	if (k.Kind != schema.KindString && k.Kind != schema.KindUUID) || !textTypes[k.Def.Base] {
		return ""
	}
	if k.raw {
		return "CAST(" + x + " AS BINARY)" // the value travels as the column's own bytes
	}
	return "CAST(CONVERT(" + x + " USING utf8mb4) AS BINARY)"
}
