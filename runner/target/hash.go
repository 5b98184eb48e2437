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
	h := xxhash.New()
	var buf [binary.MaxVarintLen64 + 1]byte
	for i, v := range r {
		_, _ = h.WriteString(cols[i].Name)
		if v == nil {
			buf[0] = 0
			_, _ = h.Write(buf[:1])
			continue
		}
		buf[0] = 1
		n := binary.PutUvarint(buf[1:], uint64(len(v)))
		_, _ = h.Write(buf[:1+n])
		_, _ = h.Write(v)
	}
	return h.Sum64()
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
