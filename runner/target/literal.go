package target

import (
	"strconv"

	"github.com/sisporta/sisporta/runner/schema"
)

// appendLiteral writes a canonical value as a MySQL literal. Upserts are
// rendered as SQL text directly: it spares the driver's per-argument
// conversion and interpolation of thousands of arguments per batch. The
// session's sql_mode is set by Sisporta (no NO_BACKSLASH_ESCAPES, no
// ANSI_QUOTES), so backslash escaping is the right one.
func appendLiteral(b []byte, c *schema.Column, v []byte) []byte {
	switch {
	case v == nil:
		return append(b, "NULL"...)
	case c.Kind.IsBinary():
		if len(v) == 0 {
			return append(b, "''"...)
		}
		b = append(b, "X'"...)
		for _, x := range v {
			b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
		}
		return append(b, '\'')
	case (c.Kind == schema.KindInt || c.Kind == schema.KindDecimal || c.Kind == schema.KindBool) && plainNumber(v):
		return append(b, v...)
	}
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

func appendUint(b []byte, u uint64) []byte { return strconv.AppendUint(b, u, 10) }
