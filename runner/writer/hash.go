package writer

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"github.com/sisporta/sisporta/runner/schema"
)

// HashColumn holds each row's content hash: a row whose hash did not change
// is not rewritten. It is INVISIBLE where the server supports it, so
// SELECT * on the mirror shows the source's columns only.
const HashColumn = "_sisporta_hash"

// DeletedColumn marks rows removed by a SoftDelete cleanup.
const DeletedColumn = "_sisporta_deleted_at"

// KeyString renders a key (canonical values in key order) as a string:
// a map key, and the form a delete candidate is stored in.
func KeyString(k schema.Row) string {
	n := 0
	for _, v := range k {
		n += len(v) + 4
	}
	b := make([]byte, 0, n)
	for _, v := range k {
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
	}
	return string(b)
}

// ParseKeyString reverses KeyString.
func ParseKeyString(s string) (schema.Row, error) {
	var out schema.Row
	for len(s) > 0 {
		n, rest, ok := strings.Cut(s, ":")
		if !ok {
			return nil, fmt.Errorf("malformed stored key")
		}
		l, err := strconv.Atoi(n)
		if err != nil || l < 0 || l > len(rest) {
			return nil, fmt.Errorf("malformed stored key")
		}
		out = append(out, []byte(rest[:l]))
		s = rest[l:]
	}
	return out, nil
}

// keyHash identifies a pending delete.
func keyHash(k schema.Row) []byte {
	s := sha256.Sum256([]byte(KeyString(k)))
	return s[:16]
}
