package source

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/schema"
)

// CursorWindow restricts an incremental read to rows changed in a window.
type CursorWindow struct {
	kind syncv1alpha1.CursorKind
	from any // nil: no lower bound (first run)
	to   any
}

// CursorHigh reads the upper bound of this run's window from the source:
// MIN_ACTIVE_ROWVERSION() for RowVersion cursors (every smaller rowversion
// is committed, so nothing below it can still appear), the server clock for
// UpdatedAt cursors. The result is the watermark the next run starts from
// once this run is complete.
func (s *Source) CursorHigh(ctx context.Context, e *Entity) (string, error) {
	if e.cursor == nil {
		return "", nil
	}
	var out string
	err := s.d.readOnly(ctx, s.db, func(tx querier) error {
		switch e.Spec.Cursor.Kind {
		case syncv1alpha1.CursorRowVersion:
			var b []byte
			if err := tx.QueryRowContext(ctx, s.d.rowVersionCapQuery()).Scan(&b); err != nil {
				return err
			}
			out = "0x" + strings.ToUpper(hex.EncodeToString(b))
		default:
			var v any
			if err := tx.QueryRowContext(ctx, s.d.nowQuery()).Scan(&v); err != nil {
				return err
			}
			switch t := v.(type) {
			case time.Time:
				out = schema.FormatDateTime(t, 6)
			case []byte:
				out = string(t)
			case string:
				out = t
			default:
				return fmt.Errorf("unexpected server time %T", v)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("entity %s: reading the cursor's upper bound: %w", e.Name, s.redact(err))
	}
	return out, nil
}

// Window returns the read window from the stored watermark (empty: first
// run, read everything up to high) to high.
func (e *Entity) Window(stored, high string) (*CursorWindow, error) {
	c := e.Spec.Cursor
	if c == nil {
		return nil, nil
	}
	w := &CursorWindow{kind: c.Kind}
	switch c.Kind {
	case syncv1alpha1.CursorRowVersion:
		to, err := parseRowVersion(high)
		if err != nil {
			return nil, err
		}
		w.to = to
		if stored != "" {
			from, err := parseRowVersion(stored)
			if err != nil {
				return nil, fmt.Errorf("stored watermark of entity %s: %w", e.Name, err)
			}
			w.from = from
		}
	default:
		w.to = high
		if stored != "" {
			t, err := time.Parse("2006-01-02 15:04:05.999999999", stored)
			if err != nil {
				return nil, fmt.Errorf("stored watermark %q of entity %s is not a date-time: %w", stored, e.Name, err)
			}
			w.from = schema.FormatDateTime(t.Add(-time.Duration(c.LookbackSeconds)*time.Second), 6)
		}
	}
	return w, nil
}

func parseRowVersion(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(b) != 8 {
		return nil, fmt.Errorf("%q is not a rowversion (0x followed by 16 hex digits)", s)
	}
	return b, nil
}

// cursor renders the window's condition on the cursor column. RowVersion
// reads [from, to): to is MIN_ACTIVE_ROWVERSION, exclusive. UpdatedAt reads
// (from, to].
func (b *sqlBuilder) cursor(c *column, w *CursorWindow) string {
	if c == nil || w == nil {
		return ""
	}
	col := b.d.quote(c.Source)
	var parts []string
	if w.kind == syncv1alpha1.CursorRowVersion {
		if w.from != nil {
			parts = append(parts, col+" >= "+b.param(c, w.from))
		}
		parts = append(parts, col+" < "+b.param(c, w.to))
	} else {
		if w.from != nil {
			parts = append(parts, col+" > "+b.param(c, w.from))
		}
		parts = append(parts, col+" <= "+b.param(c, w.to))
	}
	return "(" + strings.Join(parts, " AND ") + ")"
}
