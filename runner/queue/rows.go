package queue

import (
	"encoding/base64"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/sisporta/sisporta/runner/schema"
)

// Rows travel as a JSON array of arrays. A value is null (SQL NULL), a
// string (text kinds, as is; binary kinds, base64) or, for text that is not
// valid UTF-8 and so cannot be a JSON string, {"b":"<base64>"}. The
// hand-written codec below is several times faster than encoding/json for
// this one shape, and keeps bytes exact.

// appendRows appends rows as JSON.
func appendRows(dst []byte, rows []schema.Row, kinds []schema.Kind) []byte {
	dst = append(dst, '[')
	for i, r := range rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendRow(dst, r, kinds)
	}
	return append(dst, ']')
}

func appendRow(dst []byte, r schema.Row, kinds []schema.Kind) []byte {
	dst = append(dst, '[')
	for j, v := range r {
		if j > 0 {
			dst = append(dst, ',')
		}
		switch {
		case v == nil:
			dst = append(dst, "null"...)
		case kinds != nil && j < len(kinds) && kinds[j].IsBinary():
			dst = appendBase64String(dst, v)
		case !utf8.Valid(v):
			dst = append(dst, `{"b":`...)
			dst = appendBase64String(dst, v)
			dst = append(dst, '}')
		default:
			dst = appendJSONString(dst, v)
		}
	}
	return append(dst, ']')
}

func appendBase64String(dst, v []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, v)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// errRows is returned for malformed row JSON.
var errRows = errors.New("malformed rows in batch payload")

// parseRows decodes what appendRows encodes, copying every value.
func parseRows(data []byte, kinds []schema.Kind) ([]schema.Row, error) {
	p := &rowParser{data: data}
	return p.rows(kinds)
}

// rows parses an array of rows at the parser's position.
func (p *rowParser) rows(kinds []schema.Kind) ([]schema.Row, error) {
	p.ws()
	if p.peek() == 'n' { // "null": no rows
		return nil, p.literal("null")
	}
	if err := p.expect('['); err != nil {
		return nil, err
	}
	var rows []schema.Row
	p.ws()
	if p.peek() == ']' {
		p.pos++
		return rows, nil
	}
	for {
		r, err := p.row(kinds)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
		p.ws()
		switch p.next() {
		case ',':
			continue
		case ']':
			return rows, nil
		default:
			return nil, p.fail("expected ',' or ']' after a row")
		}
	}
}

type rowParser struct {
	data []byte
	pos  int
	// share lets values without escapes point into data instead of being
	// copied (data must then outlive the rows).
	share bool
}

func (p *rowParser) fail(msg string) error {
	return fmt.Errorf("%w: %s at byte %d", errRows, msg, p.pos)
}

func (p *rowParser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *rowParser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *rowParser) next() byte {
	c := p.peek()
	p.pos++
	return c
}

func (p *rowParser) expect(c byte) error {
	p.ws()
	if p.next() != c {
		return p.fail(fmt.Sprintf("expected %q", c))
	}
	return nil
}

func (p *rowParser) literal(s string) error {
	if p.pos+len(s) > len(p.data) || string(p.data[p.pos:p.pos+len(s)]) != s {
		return p.fail("expected " + s)
	}
	p.pos += len(s)
	return nil
}

func (p *rowParser) row(kinds []schema.Kind) (schema.Row, error) {
	if err := p.expect('['); err != nil {
		return nil, err
	}
	r := make(schema.Row, 0, len(kinds))
	p.ws()
	if p.peek() == ']' {
		p.pos++
		return r, nil
	}
	for {
		p.ws()
		j := len(r)
		var (
			v   []byte
			err error
		)
		switch p.peek() {
		case 'n':
			err = p.literal("null")
		case '"':
			v, err = p.str()
			if err == nil && kinds != nil && j < len(kinds) && kinds[j].IsBinary() {
				v, err = decodeBase64(v)
			}
		case '{':
			v, err = p.wrappedBytes()
		default:
			err = p.fail("expected a value")
		}
		if err != nil {
			return nil, err
		}
		r = append(r, v)
		p.ws()
		switch p.next() {
		case ',':
			continue
		case ']':
			return r, nil
		default:
			return nil, p.fail("expected ',' or ']' in a row")
		}
	}
}

func decodeBase64(v []byte) ([]byte, error) {
	out, err := base64.StdEncoding.AppendDecode(make([]byte, 0, base64.StdEncoding.DecodedLen(len(v))), v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errRows, err)
	}
	return out, nil
}

// wrappedBytes reads {"b":"<base64>"}.
func (p *rowParser) wrappedBytes() ([]byte, error) {
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	p.ws()
	if err := p.literal(`"b"`); err != nil {
		return nil, err
	}
	if err := p.expect(':'); err != nil {
		return nil, err
	}
	p.ws()
	s, err := p.str()
	if err != nil {
		return nil, err
	}
	if err := p.expect('}'); err != nil {
		return nil, err
	}
	return decodeBase64(s)
}

// str reads a JSON string into a new slice (never nil: "" is not NULL).
func (p *rowParser) str() ([]byte, error) {
	if p.next() != '"' {
		return nil, p.fail("expected a string")
	}
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			var out []byte
			if p.share {
				out = p.data[start:p.pos:p.pos]
			} else {
				out = make([]byte, p.pos-start)
				copy(out, p.data[start:p.pos])
			}
			p.pos++
			return out, nil
		}
		if c == '\\' {
			return p.strEscaped(start)
		}
		p.pos++
	}
	return nil, p.fail("unterminated string")
}

func (p *rowParser) strEscaped(start int) ([]byte, error) {
	out := append(make([]byte, 0, p.pos-start+16), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return out, nil
		case c != '\\':
			out = append(out, c)
			p.pos++
			continue
		}
		p.pos++
		if p.pos >= len(p.data) {
			break
		}
		e := p.data[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, p.fail("bad \\u escape")
			}
			if r >= 0xD800 && r < 0xDC00 && p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
				save := p.pos
				p.pos += 2
				if r2, ok := p.hex4(); ok && r2 >= 0xDC00 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
				} else {
					p.pos = save
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, p.fail("bad escape")
		}
	}
	return nil, p.fail("unterminated string")
}

func (p *rowParser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}
