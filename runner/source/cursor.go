package source

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/schema"
)

// CursorWindow restricts an incremental read to rows changed since the
// last complete run.
type CursorWindow struct {
	kind syncv1alpha1.CursorKind
	from any
	to   any // RowVersion only
	// date: an UpdatedAt cursor on a DATE column (compared by day).
	date bool
}

// maxClockAhead bounds the UpdatedAt values that count for the
// watermark: a DATETIME column filled in local time may be up to 14 hours
// ahead of UTC, and a value further in the future (bad data, a writer
// whose clock is wrong) must not stop later changes from being read.
const maxClockAhead = 15 * time.Hour

// CursorHigh reads the watermark this run reaches, which the next run
// starts from once this one is complete. RowVersion: MIN_ACTIVE_ROWVERSION()
// (every smaller rowversion is committed, so nothing below it can still
// appear). UpdatedAt: the largest value of the cursor column itself, not a
// clock: the column may be written in any time zone and precision, and
// only its own values compare with it exactly (values more than 15 hours
// past UTC now are not counted). "" when there is no watermark yet (an
// empty table). The watermark carries the entity's shape: when columns
// change, the next run reads everything again (see Window).
func (s *Source) CursorHigh(ctx context.Context, e *Entity) (string, error) {
	if e.cursor == nil {
		return "", nil
	}
	var out string
	err := s.retryLocks(ctx, func() error {
		out = ""
		return s.cursorHigh(ctx, e, &out)
	})
	if err != nil {
		return "", fmt.Errorf("entity %s: reading the cursor's watermark: %w", e.Name, s.redact(err))
	}
	if out == "" {
		return "", nil
	}
	return e.watermark(out), nil
}

func (s *Source) cursorHigh(ctx context.Context, e *Entity, out *string) error {
	return s.d.readOnly(ctx, s.db, func(tx querier) error {
		switch e.Spec.Cursor.Kind {
		case syncv1alpha1.CursorRowVersion:
			var b []byte
			if err := tx.QueryRowContext(ctx, s.d.rowVersionCapQuery()).Scan(&b); err != nil {
				return err
			}
			*out = "0x" + strings.ToUpper(hex.EncodeToString(b))
		default:
			var v any
			q := s.d.cursorMaxQuery(e.cursor, s.d.quote(e.cursor.Source), e.from, maxClockAhead)
			if err := tx.QueryRowContext(ctx, q).Scan(&v); err != nil {
				return err
			}
			switch t := v.(type) {
			case nil:
				return nil
			case time.Time:
				*out = formatCursorTime(e.cursor, t)
			case []byte:
				*out = string(t)
			case string:
				*out = t
			default:
				return fmt.Errorf("unexpected cursor value %T", v)
			}
		}
		return nil
	})
}

// watermark tags a cursor value with the entity's shape.
func (e *Entity) watermark(value string) string {
	return "v2:" + e.shape() + ":" + value
}

// shape is a short hash of what the entity reads: the table or query,
// the where filter, and each column's source, source type and target
// shape. Any change of them may change rows the cursor says are old (a
// column mapped from another source column, a query computing otherwise,
// another table of the same shape), so the next run reads everything.
func (e *Entity) shape() string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", e.Spec.Table, e.Spec.Query, e.Spec.Where, e.Schema.Fingerprint())
	for _, c := range e.cols {
		fmt.Fprintf(h, "\x00%s\x00%s", c.Source, c.raw.FullType)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// Window returns the window of rows changed since the stored watermark, up
// to high for RowVersion cursors (UpdatedAt reads have no upper bound:
// rows changed while the run reads are read now and again next time,
// which is harmless). It returns nil, meaning "read everything", on the
// first run and when the entity's columns changed since the watermark
// (a column added to the source, or to columns, must be filled in on
// every row, not only on rows that change).
func (e *Entity) Window(stored, high string) (*CursorWindow, error) {
	c := e.Spec.Cursor
	if c == nil {
		return nil, nil
	}
	from, ok := e.unwrap(stored)
	if !ok {
		return nil, nil
	}
	w := &CursorWindow{kind: c.Kind}
	switch c.Kind {
	case syncv1alpha1.CursorRowVersion:
		to, _ := e.unwrap(high)
		b, err := parseRowVersion(to)
		if err != nil {
			return nil, err
		}
		w.to = b
		if w.from, err = parseRowVersion(from); err != nil {
			return nil, fmt.Errorf("stored watermark of entity %s: %w", e.Name, err)
		}
	default:
		t, err := parseCursorTime(from)
		if err != nil {
			return nil, fmt.Errorf("stored watermark %q of entity %s is not a date or date-time: %w", from, e.Name, err)
		}
		t = t.Add(-time.Duration(c.LookbackSeconds) * time.Second)
		if w.date = e.cursor.Kind == schema.KindDate; w.date {
			w.from = schema.FormatDate(t) // the whole day: a DATE cannot tell earlier from later that day
		} else {
			w.from = schema.FormatDateTime(t, fracDigits(from)) // the column's own precision
		}
	}
	return w, nil
}

// unwrap returns the value of a watermark of this entity's shape.
func (e *Entity) unwrap(stored string) (string, bool) {
	rest, ok := strings.CutPrefix(stored, "v2:")
	if !ok {
		return "", false // none, or from before watermarks carried a shape
	}
	shape, value, ok := strings.Cut(rest, ":")
	return value, ok && shape == e.shape() && value != ""
}

// formatCursorTime writes a date-time the driver returned with the
// column's own precision (SQL Server refuses more digits than a datetime
// holds), in UTC for a zoned type (compared as instants).
func formatCursorTime(c *column, t time.Time) string {
	switch c.raw.Type {
	case "date":
		return schema.FormatDate(t)
	case "datetime":
		return schema.FormatDateTime(t, 3)
	case "smalldatetime":
		return schema.FormatDateTime(t, 0)
	case "datetimeoffset":
		return schema.FormatDateTime(t.UTC(), c.raw.Scale)
	}
	return schema.FormatDateTime(t, c.raw.Scale)
}

// fracDigits counts the fractional-second digits of a date-time's text.
func fracDigits(s string) int {
	if _, frac, ok := strings.Cut(s, "."); ok {
		return len(frac)
	}
	return 0
}

func parseCursorTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Parse("2006-01-02 15:04:05.999999999 -07:00", s)
}

func parseRowVersion(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(b) != 8 {
		return nil, fmt.Errorf("%q is not a rowversion (0x followed by 16 hex digits)", s)
	}
	return b, nil
}

// cursor renders the window's condition on the cursor column. RowVersion
// reads [from, to): to is MIN_ACTIVE_ROWVERSION, exclusive. UpdatedAt
// reads from the watermark on, the watermark itself included: rows with
// the same value as the last run's largest may have been committed after
// it read.
func (b *sqlBuilder) cursor(c *column, w *CursorWindow) string {
	if c == nil || w == nil {
		return ""
	}
	col := b.d.quote(c.Source)
	if w.kind == syncv1alpha1.CursorRowVersion {
		return "(" + col + " >= " + b.param(c, w.from) + " AND " + col + " < " + b.param(c, w.to) + ")"
	}
	return "(" + col + " >= " + b.param(c, w.from) + ")"
}
