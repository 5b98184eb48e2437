package schema

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FormatDateTime renders t as "2006-01-02 15:04:05" with scale fractional
// digits, truncated (never rounded: rounding could carry into the next day).
func FormatDateTime(t time.Time, scale int) string {
	return t.Format("2006-01-02 15:04:05") + fraction(t, scale)
}

// FormatTime renders the time of day of t with scale fractional digits.
func FormatTime(t time.Time, scale int) string {
	return t.Format("15:04:05") + fraction(t, scale)
}

// FormatDate renders the date of t.
func FormatDate(t time.Time) string { return t.Format("2006-01-02") }

func fraction(t time.Time, scale int) string {
	if scale <= 0 {
		return ""
	}
	if scale > 9 {
		scale = 9
	}
	ns := fmt.Sprintf("%09d", t.Nanosecond())
	return "." + ns[:scale]
}

// FormatFloat renders f as the shortest text that reads back as the same
// double. A FLOAT (real) value is formatted as the double it widens to
// exactly, never as its own shortest float text: MySQL parses a literal as
// a double before it narrows it to FLOAT, and narrowing that double could
// round differently (double rounding); the widened value narrows exactly.
func FormatFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// NormalizeDecimal returns s as a fixed-point number with exactly scale
// fractional digits, without going through binary floating point. It
// refuses anything that is not a plain decimal number.
func NormalizeDecimal(s string, scale int) (string, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	intPart, frac, _ := strings.Cut(digits, ".")
	if intPart == "" {
		intPart = "0"
	}
	if !allDigits(intPart) || !allDigits(frac) {
		return "", fmt.Errorf("%q is not a decimal number", s)
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	switch {
	case len(frac) < scale:
		frac += strings.Repeat("0", scale-len(frac))
	case len(frac) > scale:
		if strings.Trim(frac[scale:], "0") != "" {
			return "", fmt.Errorf("%q has more than %d fractional digits", s, scale)
		}
		frac = frac[:scale]
	}
	out := intPart
	if scale > 0 {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
