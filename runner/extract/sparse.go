package extract

import (
	"context"

	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
)

// Sparse batches (the writer's sparse.go): a batch of a key range the
// target already holds rows of is compared with the target here, from
// the target's keys and stored row hashes, and only the parts of the range
// where they differ are sent. A 1% change spread over a table then sends
// 1% of its rows instead of all of them, and the workers compare nothing.

const (
	// sparseStreak batches in a row not worth sending sparse (most of
	// their rows differ) make the extractor ask the target only every
	// sparseEvery-th batch, until one is worth it again: a table that
	// changes everywhere costs little more than without.
	sparseStreak = 8
	sparseEvery  = 8
)

// sparseTries decides which batches of a pass are compared here.
type sparseTries struct {
	on     bool
	misses int
	n      int
}

func (s *sparseTries) try() bool {
	if !s.on {
		return false
	}
	s.n++
	return s.misses < sparseStreak || s.n%sparseEvery == 0
}

func (s *sparseTries) result(worth, failed bool) {
	if failed {
		// The target could not be read (not made yet, down): not again in
		// this pass, which would wait on it batch after batch.
		s.on = false
		return
	}
	if worth {
		s.misses = 0
	} else {
		s.misses++
	}
}

// targetRead is the target's rows of a batch's range, being read.
type targetRead struct {
	done chan struct{}
	rows []writer.KeyHash
	err  error
}

// readTarget starts reading the target's keys and row hashes of (lo, hi].
func (x *Extractor) readTarget(ctx context.Context, template *queue.Batch, lo, hi schema.Row) *targetRead {
	r := &targetRead{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.rows, r.err = x.Target.TargetKeyHashes(ctx, template.Table, &template.Schema, template.SoftDelete, lo, hi)
	}()
	return r
}

// split cuts the rows being read at his, the ends of consecutive ranges
// in key order (nil: to the end): a read each, done with this one.
func (t *targetRead) split(his []schema.Row) []*targetRead {
	out := make([]*targetRead, len(his))
	for i := range out {
		out[i] = &targetRead{done: make(chan struct{})}
	}
	go func() {
		<-t.done
		j := 0
		for i, hi := range his {
			k := j
			for k < len(t.rows) && (hi == nil || writer.CompareIntKeys(t.rows[k].Key, hi) <= 0) {
				k++
			}
			out[i].rows, out[i].err = t.rows[j:k:k], t.err
			j = k
			close(out[i].done)
		}
	}()
	return out
}

// makeSparse compares a ranged batch (its rows, their row hashes) with
// the target's rows of its range and, when fewer than half of its rows
// differ, makes it sparse. It reports whether it did, and whether the
// target could not be read (a table not made yet, a target down): the
// batch then goes as it was.
func (x *Extractor) makeSparse(b *queue.Batch, t *targetRead, hashes []uint64, keyOf func(schema.Row) schema.Row) (sparse, failed bool) {
	<-t.done
	if t.err != nil {
		x.Log.V(1).Info("batches go whole: the target could not be read to compare a range", "entity", b.Entity, "batch", b.Seq, "reason", t.err.Error())
		return false, true
	}
	plan, ok := planSparse(b.Rows, hashes, keyOf, t.rows, b.Lo, b.Hi)
	if !ok || 2*len(plan.rows) > len(b.Rows) {
		return false, false
	}
	b.Rows, b.Parts, b.Want, b.Unchanged, b.Digest = plan.rows, plan.parts, &plan.want, len(b.Rows)-len(plan.rows), nil
	return true, false
}

// mergeSparse joins the sparse batches of a page, in key order, into one:
// a change spread thinly over a table makes every batch sparse, each a
// handful of rows, and one batch a page instead of one a range saves the
// workers a transaction (and its commit), the queue a task and the
// worker its header, seven times in eight. The range is theirs end to
// end, its parts theirs in order, and its digest once applied the sum of
// theirs.
func mergeSparse(bs []queue.Batch) queue.Batch {
	m := bs[0]
	m.Rows, m.Parts, m.Group = nil, nil, 1
	want, unchanged := schema.Digest{}, 0
	for i := range bs {
		b := &bs[i]
		m.Rows = append(m.Rows, b.Rows...)
		m.Parts = append(m.Parts, b.Parts...)
		want = want.Add(*b.Want)
		unchanged += b.Unchanged
	}
	m.Hi, m.Want, m.Unchanged = bs[len(bs)-1].Hi, &want, unchanged
	return m
}

type sparsePlan struct {
	parts []queue.Part
	rows  []schema.Row
	want  schema.Digest
}

// planSparse walks the source rows of (lo, hi] and the target's, both in
// key order. A source row is sent when the target lacks it, holds it
// soft-deleted or with another hash, or holds a live row the source lost
// just before it (its part then covers that row, which becomes a delete
// candidate); a lost row after the last source row makes a part of its
// own up to hi. Runs of sent rows make the parts. want is the digest of
// the live target rows once the parts are applied: the source's rows and
// the lost rows, which stay until the cleanup. A live target row without
// a hash (a table Sisporta took over) makes the range go whole (ok false).
func planSparse(rows []schema.Row, hashes []uint64, keyOf func(schema.Row) schema.Row, target []writer.KeyHash, lo, hi schema.Row) (sparsePlan, bool) {
	var p sparsePlan
	send := make([]bool, len(rows))
	after := false // a lost row after the last source row
	all := append([]uint64(nil), hashes...)
	i, j := 0, 0
	for i < len(rows) || j < len(target) {
		c := -1 // the source row comes first
		if i == len(rows) {
			c = 1
		} else if j < len(target) {
			c = writer.CompareIntKeys(keyOf(rows[i]), target[j].Key)
		}
		switch {
		case c == 0:
			t := target[j]
			if t.Deleted || !t.HasHash || t.Hash != hashes[i] {
				send[i] = true
			}
			i++
			j++
		case c < 0:
			send[i] = true
			i++
		default:
			t := target[j]
			j++
			if t.Deleted {
				continue
			}
			if !t.HasHash {
				return p, false
			}
			all = append(all, t.Hash)
			if i < len(rows) {
				send[i] = true
			} else {
				after = true
			}
		}
	}
	prev := lo
	for i := 0; i < len(rows); {
		if !send[i] {
			prev = keyOf(rows[i])
			i++
			continue
		}
		start := i
		for i < len(rows) && send[i] {
			i++
		}
		part := queue.Part{Lo: prev, Hi: keyOf(rows[i-1]), Rows: i - start}
		if i == len(rows) && after {
			part.Hi, after = hi, false // the lost rows at the end join the last part
		}
		p.parts = append(p.parts, part)
		p.rows = append(p.rows, rows[start:i]...)
		prev = part.Hi
	}
	if after {
		p.parts = append(p.parts, queue.Part{Lo: prev, Hi: hi})
	}
	p.want = schema.DigestOf(all)
	return p, true
}
