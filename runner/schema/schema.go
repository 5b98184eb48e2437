// Package schema describes an entity's columns as both ends see them: the
// source type, the MySQL type it maps to, and the canonical text form every
// value takes on its way through the queue (its Kind). Canonical values are
// what the worker hashes and writes, so one value always has one form.
package schema

import (
	"fmt"
	"strings"
)

// Kind is the canonical form of a column's values.
type Kind string

// Kinds and their canonical text.
const (
	KindInt      Kind = "int"      // decimal digits with optional '-': "42"
	KindDecimal  Kind = "decimal"  // fixed point with exactly Scale digits: "12.50"
	KindFloat    Kind = "float"    // shortest text that round-trips the binary value: "0.1"
	KindBool     Kind = "bool"     // "0" or "1"
	KindString   Kind = "string"   // UTF-8 text
	KindBytes    Kind = "bytes"    // raw bytes (base64 in JSON)
	KindDate     Kind = "date"     // "2006-01-02"
	KindTime     Kind = "time"     // "15:04:05" plus Scale fractional digits
	KindDateTime Kind = "datetime" // "2006-01-02 15:04:05" plus Scale fractional digits, UTC for zoned types
	KindUUID     Kind = "uuid"     // "6F9619FF-8B86-D011-B42D-00C04FC964FF"
)

// IsBinary reports whether values of the kind are raw bytes rather than text.
func (k Kind) IsBinary() bool { return k == KindBytes }

// Row is one row of canonical values, in column order. A nil entry is NULL;
// an empty string is a non-nil empty slice.
type Row [][]byte

// Column is one mirrored column.
type Column struct {
	// Source is the column's name in the source.
	Source string `json:"-"`
	// Name is the column's name in the target.
	Name string `json:"n"`
	// SourceType is the source's declaration, e.g. "nvarchar(50)".
	SourceType string `json:"-"`
	// Type is the MySQL column definition the target gets, e.g. "VARCHAR(50)".
	Type string `json:"t"`
	// Kind is the canonical form of the values.
	Kind Kind `json:"k"`
	// Scale is the fractional digits of decimals, times and datetimes.
	Scale int `json:"s,omitempty"`
	// Nullable is whether the column admits NULL.
	Nullable bool `json:"z,omitempty"`
	// Key is the column's position in the key, 1-based; 0 for non-key columns.
	Key int `json:"p,omitempty"`
	// TrimRight drops trailing spaces (fixed-width CHAR sources: MySQL's CHAR
	// drops them on read, so keeping them would make every compare differ).
	TrimRight bool `json:"-"`
	// Width is the source's character or byte length, -1 for (max).
	Width int `json:"-"`
	// Compare is how finely the source tells text values apart, for text
	// columns whose Type names no collation: the target picks the closest
	// collation it has that tells apart at least as much.
	Compare TextCompare `json:"c,omitempty"`
	// Order is how the source orders the key column's values when MySQL
	// orders them otherwise (SQL Server GUIDs).
	Order KeyOrder `json:"o,omitempty"`
}

// TextCompare is how finely a source collation tells text apart.
type TextCompare string

// Text comparisons, from coarsest to finest. The empty value is the
// target's default collation (case- and accent-insensitive).
const (
	CompareAccents TextCompare = "accents" // accent-sensitive, case-insensitive (SQL Server *_CI_AS)
	CompareCase    TextCompare = "case"    // accent- and case-sensitive (*_CS_AS)
	CompareBinary  TextCompare = "binary"  // every difference counts (*_BIN, *_BIN2, width- or kana-sensitive)
)

// KeyOrder names a source's own order of a key column's values.
type KeyOrder string

// OrderSQLServerGUID is SQL Server's order of uniqueidentifier values: by
// bytes 10-15 first, then 8-9, 6-7, 4-5 and 0-3 (in its stored byte
// order), not as their text sorts.
const OrderSQLServerGUID KeyOrder = "sqlserver-guid"

// Table is the shape of an entity's rows.
type Table struct {
	// Columns in payload order.
	Columns []Column `json:"c"`
}

// KeyIndexes returns the positions of the key columns, in key order.
func (t *Table) KeyIndexes() []int {
	var idx []int
	for k := 1; ; k++ {
		found := false
		for i, c := range t.Columns {
			if c.Key == k {
				idx = append(idx, i)
				found = true
				break
			}
		}
		if !found {
			return idx
		}
	}
}

// KeyColumns returns the key columns, in key order.
func (t *Table) KeyColumns() []Column {
	var out []Column
	for _, i := range t.KeyIndexes() {
		out = append(out, t.Columns[i])
	}
	return out
}

// Fingerprint identifies the shape, for caching schema work per shape.
func (t *Table) Fingerprint() string {
	var b strings.Builder
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "%s %s %s %d %v %d", c.Name, c.Type, c.Kind, c.Scale, c.Nullable, c.Key)
		if c.Compare != "" || c.Order != "" {
			fmt.Fprintf(&b, " %s %s", c.Compare, c.Order)
		}
		b.WriteByte('|')
	}
	return b.String()
}

// OrderSafe reports whether the source and MySQL order the key the same
// way for every value: numbers, dates and times do; strings depend on
// collations, and SQL Server orders GUIDs by their last bytes (the target
// compares those through an order column of their own, see runner/writer's
// order.go, and treats them as ordered once it has it). When it is false
// the worker also looks up a batch's keys outside the batch's range; the
// finalize step verifies every delete with the source either way.
func (t *Table) OrderSafe() bool {
	for _, c := range t.KeyColumns() {
		switch c.Kind {
		case KindInt, KindDecimal, KindDate, KindTime, KindDateTime, KindBool:
		default:
			return false
		}
	}
	return true
}
