package schema

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
	"strings"

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

// Add combines the digests of two disjoint sets of rows: the digest of
// two adjacent key ranges is the digest of the range they make together.
func (d Digest) Add(o Digest) Digest {
	a, ok1 := new(big.Int).SetString(orZero(d.Sum), 10)
	b, ok2 := new(big.Int).SetString(orZero(o.Sum), 10)
	sum := "invalid"
	if ok1 && ok2 {
		sum = a.Add(a, b).String()
	}
	return Digest{Count: d.Count + o.Count, Xor: d.Xor ^ o.Xor, Sum: sum}
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// SourceDigest is what the source computes, server side, over the rows of
// a key range (package source): the row count and aggregates of a
// cryptographic hash of each row's canonical text. Aggregates combine by
// XOR (MySQL's BIT_XOR) or by addition (SQL Server's SUM: it has no XOR
// aggregate), as Combine says; either way adjacent ranges combine. Two
// digests are equal only when their text is.
type SourceDigest struct {
	Count int64
	// Sum: the parts add up (SQL Server); otherwise they XOR (MySQL).
	Sum   bool
	Parts [4]uint64
}

// Add folds one row's hash pieces into the digest.
func (d *SourceDigest) Add(pieces ...uint64) {
	d.Count++
	for i, p := range pieces {
		if d.Sum {
			d.Parts[i] += p
		} else {
			d.Parts[i] ^= p
		}
	}
}

// Combine is the digest of two disjoint sets of rows of one source.
func (d SourceDigest) Combine(o SourceDigest) SourceDigest {
	out := d
	out.Count += o.Count
	for i := range out.Parts {
		if d.Sum {
			out.Parts[i] += o.Parts[i]
		} else {
			out.Parts[i] ^= o.Parts[i]
		}
	}
	return out
}

// String renders the digest: "x<count>:<p0>:<p1>:<p2>:<p3>" (XOR) or
// "s…" (sums). ParseSourceDigest reads it back.
func (d SourceDigest) String() string {
	op := byte('x')
	if d.Sum {
		op = 's'
	}
	b := append(make([]byte, 0, 96), op)
	b = strconv.AppendInt(b, d.Count, 10)
	for _, p := range d.Parts {
		b = append(b, ':')
		b = strconv.AppendUint(b, p, 10)
	}
	return string(b)
}

// ParseSourceDigest reads what SourceDigest.String wrote.
func ParseSourceDigest(s string) (SourceDigest, error) {
	var d SourceDigest
	if len(s) < 2 || (s[0] != 'x' && s[0] != 's') {
		return d, fmt.Errorf("source digest %q is not valid", s)
	}
	d.Sum = s[0] == 's'
	parts := strings.Split(s[1:], ":")
	if len(parts) != 5 {
		return d, fmt.Errorf("source digest %q is not valid", s)
	}
	var err error
	if d.Count, err = strconv.ParseInt(parts[0], 10, 64); err != nil {
		return d, fmt.Errorf("source digest %q is not valid", s)
	}
	for i := range d.Parts {
		if d.Parts[i], err = strconv.ParseUint(parts[i+1], 10, 64); err != nil {
			return d, fmt.Errorf("source digest %q is not valid", s)
		}
	}
	return d, nil
}
