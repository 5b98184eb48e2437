package mysqltype

import (
	"reflect"
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
)

func codec(t *testing.T, typ string, kind schema.Kind) Codec {
	t.Helper()
	k, err := For(&schema.Column{Name: "c", Type: typ, Kind: kind})
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return k
}

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Def
	}{
		{"int", Def{Base: "int"}},
		{"BIGINT UNSIGNED", Def{Base: "bigint", Unsigned: true}},
		{"decimal(19, 4) unsigned zerofill", Def{Base: "decimal", Args: "19,4", Unsigned: true}},
		{"varchar(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci", Def{Base: "varchar", Args: "20", Charset: "latin1", Collation: "latin1_swedish_ci"}},
		{"VARCHAR(765) COLLATE utf8mb4_bin", Def{Base: "varchar", Args: "765", Charset: "utf8mb4", Collation: "utf8mb4_bin"}},
		{`enum('a\\b','c''d','x,y','Ö','') CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`,
			Def{Base: "enum", Members: []string{`a\b`, "c'd", "x,y", "Ö", ""}, Charset: "utf8mb4", Collation: "utf8mb4_general_ci"}},
		{"set('p','q')", Def{Base: "set", Members: []string{"p", "q"}}},
		{"datetime(6)", Def{Base: "datetime", Args: "6"}},
		{"TEXT CHARACTER SET cp1251 COLLATE cp1251_general_ci", Def{Base: "text", Charset: "cp1251", Collation: "cp1251_general_ci"}},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "(1)", "enum('a", "enum('a',", "decimal(10,2"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSelectCompareArg(t *testing.T) {
	cases := []struct {
		typ     string
		kind    schema.Kind
		value   string
		sel     string
		compare string
		arg     any
	}{
		{"float", schema.KindFloat, "0.5", "CAST(`c` AS DOUBLE)", "?", "0.5"},
		{"float(7,4)", schema.KindFloat, "0.5", "CAST(`c` AS DOUBLE)", "?", "0.5"},
		{"double", schema.KindFloat, "0.5", "`c`", "?", "0.5"},
		{"bit(8)", schema.KindInt, "255", "CAST(`c` AS UNSIGNED)", "?", int64(255)},
		{"bigint unsigned", schema.KindInt, "18446744073709551615", "`c`", "?", uint64(18446744073709551615)},
		{"year", schema.KindInt, "0000", "`c`", "?", int64(0)},
		{"decimal(30,2)", schema.KindDecimal, "12345678901234567.89", "`c`", "CAST(? AS DECIMAL(65,2))", "12345678901234567.89"},
		{"enum('zulu','alpha','mike') CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", schema.KindString, "mike", "CASE WHEN `c`+0 = 0 THEN CONVERT(X'00' USING utf8mb4) ELSE `c` END", "?", int64(3)},
		{"set('x','a','m')", schema.KindString, "x,m", "`c`", "?", uint64(5)},
		{"set('x','a','m')", schema.KindString, "", "`c`", "?", uint64(0)},
		{"varchar(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci", schema.KindString, "\xe9", "CAST(`c` AS BINARY)", "CONVERT(? USING latin1) COLLATE latin1_swedish_ci", []byte("\xe9")},
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.KindString, "é", "`c`", "CONVERT(? USING utf8mb4) COLLATE utf8mb4_bin", "é"},
		{"VARCHAR(10)", schema.KindString, "é", "`c`", "?", "é"},
		{"varbinary(4)", schema.KindBytes, "\x00", "`c`", "?", []byte{0}},
		{"datetime(6)", schema.KindDateTime, "2024-01-01 00:00:00.000001", "`c`", "?", "2024-01-01 00:00:00.000001"},
	}
	for _, c := range cases {
		k := codec(t, c.typ, c.kind)
		if got := k.Select("`c`"); got != c.sel {
			t.Errorf("%s: select %s, want %s", c.typ, got, c.sel)
		}
		if got := k.Compare("?"); got != c.compare {
			t.Errorf("%s: compare %s, want %s", c.typ, got, c.compare)
		}
		got, err := k.Arg([]byte(c.value))
		if err != nil || !reflect.DeepEqual(got, c.arg) {
			t.Errorf("%s: arg %#v %v, want %#v", c.typ, got, err, c.arg)
		}
	}
	if _, err := codec(t, "enum('a')", schema.KindString).Arg([]byte("b")); err == nil {
		t.Error("a value outside the enum got an index")
	}
	if _, err := codec(t, "set('a')", schema.KindString).Arg([]byte("a,b")); err == nil {
		t.Error("a value outside the set got a mask")
	}
}

func TestLiterals(t *testing.T) {
	str := codec(t, "varchar(10)", schema.KindString)
	num := codec(t, "decimal(10,2)", schema.KindDecimal)
	bin := codec(t, "varbinary(10)", schema.KindBytes)
	latin := codec(t, "text CHARACTER SET cp1251 COLLATE cp1251_general_ci", schema.KindString)
	cases := []struct {
		c    Codec
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
		{bin, []byte{0, 0xab, '\\', '\''}, "_binary'\\0\xab\\\\\\''"},
		{bin, []byte{}, "_binary''"},
		{latin, []byte{0x98, 'a'}, "_cp1251 X'9861'"},
		{latin, []byte{}, "_cp1251 X''"},
	}
	for _, c := range cases {
		got := string(c.c.AppendLiteral(nil, c.v))
		if got != c.want {
			t.Errorf("%q: %s, want %s", c.v, got, c.want)
		}
		if n := c.c.LiteralBytes(c.v); n != len(got) {
			t.Errorf("%q: LiteralBytes %d, rendered %d", c.v, n, len(got))
		}
	}
}

func TestNormalizeFloat(t *testing.T) {
	for in, want := range map[string]string{
		"1234.5677490234375":     "1234.5677490234375",
		"3.4028234663852886e38":  "3.4028234663852886e+38",
		"1e21":                   "1e+21",
		"0.30000000000000004":    "0.30000000000000004",
		"-0":                     "-0",
		"5e-324":                 "5e-324",
		"1.7976931348623157e308": "1.7976931348623157e+308",
		"123.45670318603516":     "123.45670318603516",
		"16777216":               "1.6777216e+07",
		"1.2345678901234568e17":  "1.2345678901234568e+17",
	} {
		got, err := NormalizeFloat([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
	if _, err := NormalizeFloat([]byte("x")); err == nil {
		t.Error("text became a float")
	}
}

func TestKeyMismatch(t *testing.T) {
	cases := []struct {
		want, have string
		kind       schema.Kind
		ok         bool
	}{
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.KindString, true},
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.KindString, true},
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", schema.KindString, false},
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "varchar(5) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.KindString, false},
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "char(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.KindString, false},
		{"VARCHAR(10)", "varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", schema.KindString, true}, // the default collation
		{"VARCHAR(10)", "varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", schema.KindString, false},
		{"int", "bigint", schema.KindInt, true},
		{"bigint", "int", schema.KindInt, false},
		{"int unsigned", "bigint", schema.KindInt, true},
		{"int unsigned", "int", schema.KindInt, false},
		{"int", "varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.KindInt, false},
		{"decimal(10,2)", "decimal(12,2)", schema.KindDecimal, true},
		{"decimal(10,2)", "decimal(10,3)", schema.KindDecimal, false},
		{"datetime(6)", "datetime(6)", schema.KindDateTime, true},
		{"datetime(6)", "datetime(3)", schema.KindDateTime, false},
		{"datetime(6)", "timestamp(6)", schema.KindDateTime, false},
		{"binary(4)", "binary(8)", schema.KindBytes, false},
		{"varbinary(4)", "varbinary(8)", schema.KindBytes, true},
		{"enum('a','b')", "enum('a','b')", schema.KindString, true},
		{"enum('a','b')", "enum('b','a')", schema.KindString, false},
		{"bit(8)", "bit(16)", schema.KindInt, true},
		{"bit(8)", "tinyint", schema.KindInt, false},
		{"year", "smallint", schema.KindInt, false},
		{"uuid", "uuid", schema.KindString, true},
		{"uuid", "char(36)", schema.KindString, false},
	}
	for _, c := range cases {
		w, _ := Parse(c.want)
		h, _ := Parse(c.have)
		why := KeyMismatch(w, c.kind, h, "utf8mb4_general_ci")
		if (why == "") != c.ok {
			t.Errorf("source %s, target %s: %q, want ok=%v", c.want, c.have, why, c.ok)
		}
	}
}

func TestHoldsValues(t *testing.T) {
	cases := []struct {
		want, have string
		kind       schema.Kind
		holding    Holding
	}{
		{"decimal(10,2)", "decimal(12,4)", schema.KindDecimal, Holds},
		{"decimal(12,4)", "decimal(10,2)", schema.KindDecimal, Alters},
		{"decimal(12,2)", "decimal(10,2)", schema.KindDecimal, Refuses},
		{"datetime", "datetime(3)", schema.KindDateTime, Holds},
		{"datetime(3)", "datetime", schema.KindDateTime, Alters},
		{"datetime", "date", schema.KindDateTime, Alters},
		{"float", "double", schema.KindFloat, Holds},
		{"double", "float", schema.KindFloat, Alters},
		{"varchar(10)", "char(10)", schema.KindString, Alters},
		{"char(10)", "varchar(10)", schema.KindString, Holds},
		{"varchar(200)", "varchar(20)", schema.KindString, Refuses},
		{"varchar(20)", "text", schema.KindString, Holds},
		{"varbinary(4)", "binary(4)", schema.KindBytes, Alters},
		{"binary(4)", "varbinary(4)", schema.KindBytes, Holds},
		{"int", "bigint", schema.KindInt, Holds},
		{"bigint", "int", schema.KindInt, Refuses},
		{"int unsigned", "int", schema.KindInt, Refuses},
		{"enum('a','b')", "enum('a','b','c')", schema.KindString, Holds},
		{"enum('a','b')", "enum('b','a')", schema.KindString, Refuses},
		{"varchar(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci", "varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.KindString, Refuses},
		{"int", "varchar(20)", schema.KindInt, Alters},
		{"CHAR(36)", "char(36) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", schema.KindUUID, Holds},
		{"CHAR(36)", "varchar(40)", schema.KindUUID, Holds},
		{"CHAR(36)", "char(30)", schema.KindUUID, Refuses},
		{"CHAR(36)", "binary(16)", schema.KindUUID, Alters},
	}
	for _, c := range cases {
		w, _ := Parse(c.want)
		h, _ := Parse(c.have)
		if got := HoldsValues(w, c.kind, h); got != c.holding {
			t.Errorf("source %s, target %s: %d, want %d", c.want, c.have, got, c.holding)
		}
	}
}

func TestCollationRank(t *testing.T) {
	for name, want := range map[string]int{
		"utf8mb4_general_ci":          0,
		"utf8mb4_unicode_ci":          0,
		"utf8mb4_0900_ai_ci":          0,
		"utf8mb4_uca1400_ai_ci":       0,
		"utf8mb4_cs_0900_ai_ci":       0, // Czech, accent- and case-insensitive
		"latin1_swedish_ci":           0,
		"utf8mb4_thai_520_w2":         0,
		"utf8mb4_0900_as_ci":          1,
		"utf8mb4_uca1400_as_ci":       1,
		"utf8mb4_uca1400_nopad_as_ci": 1,
		"utf8mb4_cs_0900_as_cs":       2,
		"utf8mb4_0900_as_cs":          2,
		"utf8mb4_uca1400_as_cs":       2,
		"utf8mb4_ja_0900_as_cs_ks":    2,
		"latin1_general_cs":           2,
		"UTF8MB4_BIN":                 3,
		"utf8mb4_nopad_bin":           3,
		"utf8mb4_0900_bin":            3,
		"binary":                      3,
	} {
		if got := CollationRank(name); got != want {
			t.Errorf("CollationRank(%s) = %d, want %d", name, got, want)
		}
	}
	for c, want := range map[schema.TextCompare]int{"": 0, schema.CompareAccents: 1, schema.CompareCase: 2, schema.CompareBinary: 3} {
		if got := CompareRank(c); got != want {
			t.Errorf("CompareRank(%q) = %d, want %d", c, got, want)
		}
		// Every collation offered for a comparison tells apart at least as much.
		for _, coll := range CollationsFor(c) {
			if CollationRank(coll) < want {
				t.Errorf("%s offered for %q tells apart less", coll, c)
			}
		}
		if c != "" && (len(CollationsFor(c)) == 0 || CollationsFor(c)[len(CollationsFor(c))-1] != "utf8mb4_bin") {
			t.Errorf("%q must end in utf8mb4_bin, which every server has", c)
		}
	}
}

func TestKeyMismatchAtLeast(t *testing.T) {
	cases := []struct {
		have string
		cmp  schema.TextCompare
		ok   bool
	}{
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_uca1400_as_ci", schema.CompareAccents, true},
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_as_cs", schema.CompareAccents, true},
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.CompareCase, true},
		{"varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.CompareBinary, true},
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", schema.CompareAccents, false},
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_as_ci", schema.CompareCase, false},
		{"varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_as_cs", schema.CompareBinary, false},
		{"varchar(5) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.CompareAccents, false}, // narrower
		{"char(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", schema.CompareAccents, false},   // drops trailing spaces
	}
	w, _ := Parse("VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_uca1400_as_ci")
	for _, c := range cases {
		h, _ := Parse(c.have)
		why := KeyMismatchAtLeast(w, schema.KindString, h, c.cmp)
		if (why == "") != c.ok {
			t.Errorf("target %s, source compares %s: %q, want ok=%v", c.have, c.cmp, why, c.ok)
		}
	}
}

func TestExact(t *testing.T) {
	cases := []struct {
		typ  string
		kind schema.Kind
		want string
	}{
		{"VARCHAR(20)", schema.KindString, "CAST(CONVERT(`c` USING utf8mb4) AS BINARY)"},
		{"CHAR(36)", schema.KindUUID, "CAST(CONVERT(`c` USING utf8mb4) AS BINARY)"},
		{"VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci", schema.KindString, "CAST(`c` AS BINARY)"},
		{"INT", schema.KindInt, ""},
		{"enum('a','b')", schema.KindString, ""},
		{"VARBINARY(10)", schema.KindBytes, ""},
		{"DATETIME(6)", schema.KindDateTime, ""},
	}
	for _, c := range cases {
		k, err := For(&schema.Column{Type: c.typ, Kind: c.kind})
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Exact("`c`"); got != c.want {
			t.Errorf("%s: %q, want %q", c.typ, got, c.want)
		}
	}
}
