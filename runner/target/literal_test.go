package target

import (
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
)

func TestLiterals(t *testing.T) {
	str := &schema.Column{Kind: schema.KindString}
	num := &schema.Column{Kind: schema.KindDecimal}
	bin := &schema.Column{Kind: schema.KindBytes}
	cases := []struct {
		c    *schema.Column
		v    []byte
		want string
	}{
		{str, nil, "NULL"},
		{str, []byte{}, "''"},
		{str, []byte("O'Brien \"x\" \\ \x00 \n \r \x1a é🚪"), `'O\'Brien \"x\" \\ \0 \n \r \Z é🚪'`},
		{num, []byte("-12.50"), "-12.50"},
		{num, []byte("1e5"), "'1e5'"},
		{num, []byte("1;DROP"), "'1;DROP'"},
		{num, []byte("5."), "'5.'"},
		{bin, []byte{0, 0xab}, "X'00AB'"},
		{bin, []byte{}, "''"},
	}
	for _, c := range cases {
		if got := string(appendLiteral(nil, c.c, c.v)); got != c.want {
			t.Errorf("%q: %s, want %s", c.v, got, c.want)
		}
	}
}
