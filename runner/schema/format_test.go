package schema

import (
	"testing"
	"time"
)

func TestNormalizeDecimal(t *testing.T) {
	cases := []struct {
		in    string
		scale int
		want  string
	}{
		{"12.5", 2, "12.50"}, {"-0.50", 2, "-0.50"}, {".5", 1, "0.5"}, {"007", 0, "7"}, {"-0.000", 3, "0.000"},
		{"12345678901234567890123456789012.123456", 6, "12345678901234567890123456789012.123456"},
		{"1.2300", 2, "1.23"}, {"+3", 1, "3.0"},
	}
	for _, c := range cases {
		got, err := NormalizeDecimal(c.in, c.scale)
		if err != nil || got != c.want {
			t.Errorf("NormalizeDecimal(%q, %d) = %q, %v; want %q", c.in, c.scale, got, err, c.want)
		}
	}
	for _, bad := range []string{"1.234", "abc", "1e5", "1,5", ""} {
		if got, err := NormalizeDecimal(bad, 2); err == nil && bad != "" {
			t.Errorf("NormalizeDecimal(%q) = %q, want an error", bad, got)
		}
	}
}

func TestDateTimeFormatsTruncate(t *testing.T) {
	ts := time.Date(2024, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
	if got := FormatDateTime(ts, 6); got != "2024-12-31 23:59:59.999999" {
		t.Errorf("got %s: rounding would have carried into the next year", got)
	}
	if got := FormatDateTime(ts, 0); got != "2024-12-31 23:59:59" {
		t.Errorf("got %s", got)
	}
	if got := FormatTime(ts, 3); got != "23:59:59.999" {
		t.Errorf("got %s", got)
	}
	if got := FormatFloat(float64(float32(0.1))); got != "0.10000000149011612" {
		t.Errorf("float32 0.1 = %s, want the double it widens to", got)
	}
}

func TestOrderSafeKeys(t *testing.T) {
	ints := Table{Columns: []Column{{Name: "a", Kind: KindInt, Key: 1}, {Name: "d", Kind: KindDateTime, Key: 2}, {Name: "s", Kind: KindString}}}
	if !ints.OrderSafe() {
		t.Error("numbers and dates order alike everywhere")
	}
	strs := Table{Columns: []Column{{Name: "a", Kind: KindInt, Key: 1}, {Name: "s", Kind: KindString, Key: 2}}}
	guids := Table{Columns: []Column{{Name: "g", Kind: KindUUID, Key: 1}}}
	if strs.OrderSafe() || guids.OrderSafe() {
		t.Error("strings and GUIDs depend on collation and byte order")
	}
	if got := strs.KeyIndexes(); len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Errorf("key indexes %v", got)
	}
}
