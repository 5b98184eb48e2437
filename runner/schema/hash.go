package schema

import (
	"encoding/binary"
	"math/big"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// Hasher hashes rows of one shape: 64-bit xxhash over the column names and
// a length-prefixed encoding of the values, so NULL, "" and neighbouring
// values never collide by construction, and a renamed column changes every
// hash (the mapping changed: rewrite). Two different rows hash alike with
// odds of 2^-64. The extractor and the worker must agree on it exactly.
type Hasher struct {
	names uint64
	buf   []byte
}

// NewHasher prepares hashing rows with these columns.
func NewHasher(cols []Column) *Hasher {
	h := xxhash.New()
	for _, c := range cols {
		_, _ = h.WriteString(c.Name)
		_, _ = h.Write([]byte{0})
	}
	return &Hasher{names: h.Sum64()}
}

// Sum hashes one row.
func (h *Hasher) Sum(r Row) uint64 {
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

// Digest summarises a set of row hashes the way MySQL can summarise a key
// range server-side (COUNT, BIT_XOR and SUM of the hash column): when a
// batch's digest equals its range's, every row is unchanged, and the rows
// need not travel or be compared one by one.
type Digest struct {
	Count int    `json:"n"`
	Xor   uint64 `json:"x,string"`
	Sum   string `json:"s"` // decimal: the sum of up to 2^64 hashes overflows 64 bits
}

// DigestOf summarises row hashes.
func DigestOf(hashes []uint64) Digest {
	var hi, lo, x uint64
	for _, h := range hashes {
		var c uint64
		lo, c = bits.Add64(lo, h, 0)
		hi += c
		x ^= h
	}
	sum := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
	sum.Add(sum, new(big.Int).SetUint64(lo))
	return Digest{Count: len(hashes), Xor: x, Sum: sum.String()}
}
