package writer

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
)

func TestGUIDOrderKey(t *testing.T) {
	// Worked by hand from the canonical text AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE:
	// E as written, D as written, then the bytes of C, B and A each reversed
	// (Guid.ToByteArray stores the first three groups little-endian, and SQL
	// Server compares bytes 10-15, 8-9, 6, 7, 4, 5, 0-3).
	for in, want := range map[string]string{
		"00112233-4455-6677-8899-AABBCCDDEEFF": "AABBCCDDEEFF" + "8899" + "7766" + "5544" + "33221100",
		"6F9619FF-8B86-D011-B42D-00C04FC964FF": "00C04FC964FF" + "B42D" + "11D0" + "868B" + "FF19966F",
		"6f9619ff-8b86-d011-b42d-00c04fc964ff": "00C04FC964FF" + "B42D" + "11D0" + "868B" + "FF19966F", // either case
		"00000000-0000-0000-0000-000000000001": "000000000001" + "0000" + "0000" + "0000" + "00000000",
		"FFFFFFFF-FFFF-FFFF-FFFF-000000000000": "000000000000" + "FFFF" + "FFFF" + "FFFF" + "FFFFFFFF",
	} {
		got, err := guidOrderKey([]byte(in))
		if err != nil || strings.ToUpper(hex.EncodeToString(got)) != want {
			t.Errorf("%s: %X %v, want %s", in, got, err, want)
		}
	}

	// Pairs in SQL Server's order (first < second) whose text sorts the
	// other way round.
	for _, p := range [][2]string{
		// The last group decides first: ...0000 before ...0001, whatever
		// the first 24 characters say.
		{"FFFFFFFF-FFFF-FFFF-FFFF-000000000000", "00000000-0000-0000-0000-000000000001"},
		// Then the fourth group, before the first three.
		{"FFFFFFFF-FFFF-FFFF-0000-000000000000", "00000000-0000-0000-0001-000000000000"},
		// Within the third group the bytes are swapped: 0100 is the low
		// byte 01 stored first, so C=0100 sorts before C=0001.
		{"00000000-0000-0100-0000-000000000000", "00000000-0000-0001-0000-000000000000"},
		// The second group before the first.
		{"FFFFFFFF-0000-0000-0000-000000000000", "00000000-0001-0000-0000-000000000000"},
		// In the first group the last byte weighs most: 01000000 < 00000001.
		{"01000000-0000-0000-0000-000000000000", "00000001-0000-0000-0000-000000000000"},
	} {
		a, errA := guidOrderKey([]byte(p[0]))
		b, errB := guidOrderKey([]byte(p[1]))
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if p[0] < p[1] {
			t.Fatalf("test pair %v: its text must sort the other way", p)
		}
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("SQL Server sorts %s before %s; keys %X >= %X", p[0], p[1], a, b)
		}
	}

	for _, bad := range []string{"", "6F9619FF8B86D011B42D00C04FC964FF", "6F9619FF-8B86-D011-B42D-00C04FC964F", "{6F9619FF-8B86-D011-B42D-00C04FC964F}", "6F9619FF-8B86-D011-B42D-00C04FC964FG"} {
		if _, err := guidOrderKey([]byte(bad)); err == nil {
			t.Errorf("%q was taken for a GUID", bad)
		}
	}
}

func TestGUIDOrderExpr(t *testing.T) {
	want := "UNHEX(CONCAT(SUBSTR(RTRIM(`g`),25,12),SUBSTR(RTRIM(`g`),20,4),SUBSTR(RTRIM(`g`),17,2),SUBSTR(RTRIM(`g`),15,2),SUBSTR(RTRIM(`g`),12,2),SUBSTR(RTRIM(`g`),10,2),SUBSTR(RTRIM(`g`),7,2),SUBSTR(RTRIM(`g`),5,2),SUBSTR(RTRIM(`g`),3,2),SUBSTR(RTRIM(`g`),1,2)))"
	if got := guidOrderExpr("g"); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestOrderColumnsAndOrderSafe(t *testing.T) {
	guid := schema.Column{Name: "g", Type: "CHAR(36)", Kind: schema.KindUUID, Key: 2, Order: schema.OrderSQLServerGUID}
	s := schema.Table{Columns: []schema.Column{{Name: "v", Type: "INT", Kind: schema.KindInt}, {Name: "a", Type: "INT", Kind: schema.KindInt, Key: 1}, guid}}
	order := orderColumns(&s)
	if len(order) != 2 || order[0] != "" || order[1] != "_sisporta_order_2" {
		t.Fatalf("order columns %q", order)
	}
	if got := orderIndexDef(&s, order); got != "INDEX `_sisporta_order` (`a`, `_sisporta_order_2`)" {
		t.Errorf("index %s", got)
	}
	keys := s.KeyColumns()
	if s.OrderSafe() || !orderSafe(keys, order) || orderSafe(keys, nil) {
		t.Errorf("a GUID key is order-safe only with its order column")
	}
	keys[0].Kind = schema.KindString
	if orderSafe(keys, order) {
		t.Errorf("a text key column keeps the key unsafe")
	}
	unordered := guid
	unordered.Order = ""
	if orderColumns(&schema.Table{Columns: []schema.Column{unordered}}) != nil {
		t.Errorf("a GUID key without the source's order got an order column")
	}
}
