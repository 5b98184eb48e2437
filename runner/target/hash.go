package target

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/sisporta/sisporta/runner/schema"
)

// HashColumn holds each row's content hash: a row whose hash did not change
// is not rewritten. It is INVISIBLE where the server supports it, so
// SELECT * on the mirror shows the source's columns only.
const HashColumn = "_sisporta_hash"

// DeletedColumn marks rows removed by a SoftDelete cleanup.
const DeletedColumn = "_sisporta_deleted_at"

// RowHash hashes a row's canonical values (64-bit xxhash over a
// length-prefixed encoding, so NULL, "" and neighbouring values never
// collide by construction; two different rows hash alike with odds of
// 2^-64). The column names are hashed too, so a mapping change rewrites.
func RowHash(cols []schema.Column, r schema.Row) uint64 {
	return NewHasher(cols).Sum(r)
}

// Hasher hashes rows of one shape, reusing its buffer.
type Hasher struct {
	names uint64
	buf   []byte
}

// NewHasher prepares hashing rows with these columns.
func NewHasher(cols []schema.Column) *Hasher {
	h := xxhash.New()
	for _, c := range cols {
		_, _ = h.WriteString(c.Name)
		_, _ = h.Write([]byte{0})
	}
	return &Hasher{names: h.Sum64()}
}

// Sum hashes one row.
func (h *Hasher) Sum(r schema.Row) uint64 {
	b := binary.LittleEndian.AppendUint64(h.buf[:0], h.names)
	for _, v := range r {
		if v == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	h.buf = b
	return xxhash.Sum64(b)
}

// KeyString renders a key (canonical values in key order) as a map key.
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

// keyHash identifies a pending delete.
func keyHash(k schema.Row) []byte {
	s := sha256.Sum256([]byte(KeyString(k)))
	return s[:16]
}
