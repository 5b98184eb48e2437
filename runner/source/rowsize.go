package source

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/sisporta/sisporta/runner/schema"
)

// MySQL limits: a row's fixed and VARCHAR parts must fit in 65535 bytes, and
// an InnoDB primary key in 3072 bytes.
const (
	maxRowBytes = 65535 - 1024 // leave room for MySQL's own overhead and Sisporta's columns
	maxKeyBytes = 3072
)

var sizedType = regexp.MustCompile(`(?i)^(var)?(char|binary)\((\d+)\)(.*)$`)

// fitRowSize turns the widest non-key VARCHAR/VARBINARY columns into
// TEXT/BLOB until the row fits MySQL's row size limit (many wide nvarchar
// columns in one ERP table are common), and refuses keys MySQL cannot index.
func fitRowSize(t *schema.Table) error {
	size := func(c schema.Column) (bytes int, varLen bool, n int, rest string) {
		m := sizedType.FindStringSubmatch(c.Type)
		if m == nil {
			return 16, false, 0, "" // numbers, dates, TEXT/BLOB pointers: small
		}
		n, _ = strconv.Atoi(m[3])
		per := 1
		if strings.EqualFold(m[2], "char") {
			per = charsetWidth(m[4])
		}
		return n*per + 2, m[1] != "", n, m[4]
	}
	keyBytes := 0
	for _, c := range t.Columns {
		if c.Key == 0 {
			continue
		}
		b, _, _, _ := size(c)
		if strings.Contains(strings.ToUpper(c.Type), "TEXT") || strings.Contains(strings.ToUpper(c.Type), "BLOB") {
			return fmt.Errorf("key column %s is %s: MySQL cannot use a TEXT or BLOB column as a primary key; choose other source.keyColumns", c.Source, c.SourceType)
		}
		keyBytes += b - 2
	}
	if keyBytes > maxKeyBytes {
		return fmt.Errorf("the key columns take up to %d bytes, more than the %d bytes a MySQL primary key can hold; choose narrower source.keyColumns", keyBytes, maxKeyBytes)
	}
	for {
		total, widest, widestBytes := 0, -1, 0
		for i, c := range t.Columns {
			b, varLen, _, _ := size(c)
			total += b
			if c.Key == 0 && varLen && b > widestBytes {
				widest, widestBytes = i, b
			}
		}
		if total <= maxRowBytes {
			return nil
		}
		if widest < 0 {
			return fmt.Errorf("the row takes %d bytes, more than MySQL's row size limit, and no column can move to TEXT", total)
		}
		c := &t.Columns[widest]
		m := sizedType.FindStringSubmatch(c.Type)
		big := widestBytes > 65535
		if strings.EqualFold(m[2], "char") {
			c.Type = map[bool]string{false: "TEXT", true: "MEDIUMTEXT"}[big] + m[4]
		} else {
			c.Type = map[bool]string{false: "BLOB", true: "MEDIUMBLOB"}[big]
		}
	}
}

// charsetWidth is the most bytes per character of a column's character set
// clause (utf8mb4 when none is given: Sisporta creates utf8mb4 tables).
func charsetWidth(clause string) int {
	u := strings.ToLower(clause)
	switch {
	case strings.Contains(u, "latin1"), strings.Contains(u, "ascii"), strings.Contains(u, "binary"):
		return 1
	case strings.Contains(u, "utf8mb3"), strings.Contains(u, "utf8 "), strings.HasSuffix(u, "utf8"):
		return 3
	case strings.Contains(u, "ucs2"), strings.Contains(u, "utf16"):
		return 4
	}
	return 4
}

// narrowKeys gives key columns of unbounded text or binary type (a query's
// result carries no lengths) the widest type MySQL can index, sharing the
// 3072-byte key limit among them; text keys compare in binary, so the
// target never merges rows the source tells apart.
func narrowKeys(cols []column) {
	var wide []int
	for i, c := range cols {
		u := strings.ToUpper(c.Type)
		if c.Key > 0 && (strings.HasPrefix(u, "LONGTEXT") || strings.HasPrefix(u, "LONGBLOB") || strings.HasPrefix(u, "TEXT") || strings.HasPrefix(u, "BLOB")) {
			wide = append(wide, i)
		}
	}
	if len(wide) == 0 {
		return
	}
	budget := (maxKeyBytes - 64) / len(wide)
	for _, i := range wide {
		c := &cols[i].Column
		if c.Kind.IsBinary() {
			c.Type = fmt.Sprintf("VARBINARY(%d)", budget)
		} else {
			c.Type = fmt.Sprintf("VARCHAR(%d) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", budget/4)
		}
	}
}
