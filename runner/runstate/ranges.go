package runstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/sisporta/sisporta/runner/schema"
)

// Range digests (see the package comment for the keys): the key ranges of
// an entity's last complete run, each with the source's digest of its rows
// as that run read them and the digest of the rows it left in the target.
// A later run asks the source for each range's digest again and reads only
// the ranges whose digest changed.
//
// The ranges tile the key space: range i covers (Hi of range i-1, Hi of
// range i], the first starting at the beginning and the last (Hi nil)
// going to the end. A range whose source digest is missing is dirty: the
// next run reads it. Every run that writes to a range dirties it in the
// current list first, so a run that stops midway never leaves a digest
// that matches a source the target no longer holds.

// Range is one key range of an entity.
type Range struct {
	// Hi is the range's last key, included (canonical values, key order);
	// nil for the last range, which goes to the end.
	Hi schema.Row `json:"h,omitempty"`
	// HiParams are the source's exact key parameters of Hi (what keyset
	// pages continue after; see source.Page.Last).
	HiParams []any `json:"-"`
	// Count is the range's rows.
	Count int64 `json:"n"`
	// Bytes is the size of the range's values as read (0: not known; kept
	// since the ranges of wide rows are bounded by bytes too).
	Bytes int64 `json:"b,omitempty"`
	// Source is the source's digest of the range (schema.SourceDigest's
	// text); "" marks the range dirty: the next run reads it.
	Source string `json:"-"`
	// Target is the digest of the rows the run left in the target's range
	// (what target range checks compare).
	Target schema.Digest `json:"t"`
}

// rangeJSON is a Range as stored: its parameters typed.
type rangeJSON struct {
	Range
	Params []param `json:"p,omitempty"`
}

// param is one typed key parameter.
type param struct {
	I *int64  `json:"i,omitempty"`
	U *uint64 `json:"u,omitempty"`
	S *string `json:"s,omitempty"`
	B []byte  `json:"b,omitempty"`
	N bool    `json:"z,omitempty"` // NULL
}

func encodeParams(ps []any) ([]param, error) {
	out := make([]param, len(ps))
	for i, p := range ps {
		switch v := p.(type) {
		case nil:
			out[i].N = true
		case int64:
			out[i].I = &v
		case uint64:
			out[i].U = &v
		case string:
			out[i].S = &v
		case []byte:
			out[i].B = append([]byte{}, v...)
			if out[i].B == nil {
				out[i].B = []byte{}
			}
		default:
			return nil, fmt.Errorf("key parameter of type %T cannot be stored", p)
		}
	}
	return out, nil
}

func decodeParams(ps []param) []any {
	if len(ps) == 0 {
		return nil
	}
	out := make([]any, len(ps))
	for i, p := range ps {
		switch {
		case p.N:
			out[i] = nil
		case p.I != nil:
			out[i] = *p.I
		case p.U != nil:
			out[i] = *p.U
		case p.S != nil:
			out[i] = *p.S
		default:
			out[i] = append([]byte{}, p.B...)
		}
	}
	return out
}

// RangeMeta describes a list of ranges.
type RangeMeta struct {
	// Shape is the entity's digest shape (source.Entity.DigestShape): a
	// list of another shape is not compared.
	Shape string
	// Run and Epoch of the run that read the ranges.
	Run   int64
	Epoch string
	// Base is the run whose list a pending list was built from (0: none).
	Base int64
}

// RangeSet is an entity's current list of ranges.
type RangeSet struct {
	RangeMeta
	Ranges []Range
}

func rangesKey(queue, entity string) string  { return keyPrefix(queue) + "ranges:" + entity }
func pendingKey(queue, entity string) string { return keyPrefix(queue) + "ranges-pending:" + entity }

// LoadRanges returns the entity's current ranges, or nil when there are
// none (or they are incomplete: they are then not used).
//
// The list is read loadChunk ranges at a time, not as one reply: a table
// of 100M rows has 100,000 ranges, and decoding them from one HGETALL
// took 114 MB of heap at once. A list replaced while it is read (a
// worker promoting a newer run's list: its run or epoch differ at the
// end) is read again.
func (s *Store) LoadRanges(ctx context.Context, queue, entity string) (*RangeSet, error) {
	for range 3 {
		set, stable, err := s.loadRanges(ctx, rangesKey(queue, entity))
		if err != nil {
			return nil, fmt.Errorf("reading the ranges of entity %s in Redis: %w", entity, err)
		}
		if stable {
			return set, nil
		}
	}
	return nil, nil // replaced under every read: the run reads the entity in full
}

// loadChunk is how many ranges LoadRanges reads a round trip.
const loadChunk = 1000

// loadRanges reads the list at key; stable is false when it changed
// meanwhile.
func (s *Store) loadRanges(ctx context.Context, key string) (set *RangeSet, stable bool, err error) {
	meta, err := s.rdb.HMGet(ctx, key, "shape", "epoch", "run", "n", "done").Result()
	if err != nil {
		return nil, false, err
	}
	field := func(v any) string { t, _ := v.(string); return t }
	set = &RangeSet{}
	set.Shape, set.Epoch = field(meta[0]), field(meta[1])
	set.Run, _ = strconv.ParseInt(field(meta[2]), 10, 64)
	n, err := strconv.Atoi(field(meta[3]))
	if err != nil || field(meta[4]) != "1" {
		return nil, true, nil
	}
	set.Ranges = make([]Range, n)
	fields := make([]string, 0, 2*loadChunk)
	for start := 0; start < n; start += loadChunk {
		end := min(n, start+loadChunk)
		fields = fields[:0]
		for i := start; i < end; i++ {
			k := strconv.Itoa(i)
			fields = append(fields, k, "s:"+k)
		}
		vals, err := s.rdb.HMGet(ctx, key, fields...).Result()
		if err != nil {
			return nil, false, err
		}
		for i := start; i < end; i++ {
			v, ok := vals[2*(i-start)].(string)
			if !ok {
				return nil, true, nil
			}
			var rj rangeJSON
			if err := json.Unmarshal([]byte(v), &rj); err != nil {
				return nil, true, nil
			}
			r := rj.Range
			r.HiParams = decodeParams(rj.Params)
			r.Source = field(vals[2*(i-start)+1])
			if (r.Hi == nil) != (i == n-1) || len(r.Hi) != len(r.HiParams) {
				return nil, true, nil // ranges must tile the key space
			}
			set.Ranges[i] = r
		}
	}
	again, err := s.rdb.HMGet(ctx, key, "epoch", "run").Result()
	if err != nil {
		return nil, false, err
	}
	if field(again[0]) != set.Epoch || field(again[1]) != strconv.FormatInt(set.Run, 10) {
		return nil, false, nil
	}
	return set, true, nil
}

// DropRanges removes the entity's current and pending ranges: a run that
// writes to the entity without keeping ranges (an incremental read, a
// cleanup that keeps rows) leaves none that could be trusted.
func (s *Store) DropRanges(ctx context.Context, queue, entity string) error {
	if err := s.rdb.Del(ctx, rangesKey(queue, entity), pendingKey(queue, entity)).Err(); err != nil {
		return fmt.Errorf("removing the ranges of entity %s in Redis: %w", entity, err)
	}
	return nil
}

// DropCurrentRanges removes the entity's current ranges.
func (s *Store) DropCurrentRanges(ctx context.Context, queue, entity string) error {
	if err := s.rdb.Del(ctx, rangesKey(queue, entity)).Err(); err != nil {
		return fmt.Errorf("removing the ranges of entity %s in Redis: %w", entity, err)
	}
	return nil
}

// dirtyScript removes the source digests of ranges of the current list,
// if the list is still the one of run ARGV[1].
var dirtyScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'run') ~= ARGV[1] then return 0 end
for i = 2, #ARGV do redis.call('HDEL', KEYS[1], 's:' .. ARGV[i]) end
return 1`)

// MarkRangesDirty makes the next run read ranges idx of the current list
// of run base: called before any batch of a run writes to them, and when
// a range's target rows turn out to differ from what Sisporta wrote. A
// list that is no longer run base's is left alone (it does not have
// those ranges).
func (s *Store) MarkRangesDirty(ctx context.Context, queue, entity string, base int64, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	args := make([]any, 0, len(idx)+1)
	args = append(args, strconv.FormatInt(base, 10))
	for _, i := range idx {
		args = append(args, strconv.Itoa(i))
	}
	if err := dirtyScript.Run(ctx, s.rdb, []string{rangesKey(queue, entity)}, args...).Err(); err != nil {
		return fmt.Errorf("marking ranges of entity %s to be read again in Redis: %w", entity, err)
	}
	return nil
}

// StartPending begins the ranges of a run: any pending list of an earlier
// run is dropped (that run can no longer promote it: this run's batches
// will change the target after it).
func (s *Store) StartPending(ctx context.Context, queue, entity string, m RangeMeta) error {
	key := pendingKey(queue, entity)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		p.HSet(ctx, key, "run", strconv.FormatInt(m.Run, 10), "epoch", m.Epoch, "shape", m.Shape, "base", strconv.FormatInt(m.Base, 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("starting the ranges of entity %s in Redis: %w", entity, err)
	}
	return nil
}

// AddPending stores ranges first, first+1, ... of a run's pending list.
func (s *Store) AddPending(ctx context.Context, queue, entity string, first int, ranges []Range) error {
	if len(ranges) == 0 {
		return nil
	}
	args := make([]any, 0, 4*len(ranges))
	for i, r := range ranges {
		ps, err := encodeParams(r.HiParams)
		if err != nil {
			return err
		}
		b, err := json.Marshal(rangeJSON{Range: r, Params: ps})
		if err != nil {
			return err
		}
		n := strconv.Itoa(first + i)
		args = append(args, n, b)
		if r.Source != "" {
			args = append(args, "s:"+n, r.Source)
		}
	}
	if err := s.rdb.HSet(ctx, pendingKey(queue, entity), args...).Err(); err != nil {
		return fmt.Errorf("storing ranges of entity %s in Redis: %w", entity, err)
	}
	return nil
}

// FinishPending marks a run's pending list complete with n ranges.
func (s *Store) FinishPending(ctx context.Context, queue, entity string, n int) error {
	if err := s.rdb.HSet(ctx, pendingKey(queue, entity), "n", n, "done", 1).Err(); err != nil {
		return fmt.Errorf("storing ranges of entity %s in Redis: %w", entity, err)
	}
	return nil
}

var badScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'run') ~= ARGV[1] then return 0 end
return redis.call('HINCRBY', KEYS[1], 'bad', ARGV[2])`)

// MarkPendingBad records that n ranges the run skipped differ in the
// target from what Sisporta wrote: the run's list is then not promoted.
func (s *Store) MarkPendingBad(ctx context.Context, queue, entity string, run int64, n int) error {
	if err := badScript.Run(ctx, s.rdb, []string{pendingKey(queue, entity)}, strconv.FormatInt(run, 10), n).Err(); err != nil {
		return fmt.Errorf("recording ranges of entity %s that differ in the target in Redis: %w", entity, err)
	}
	return nil
}

var promoteScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'run') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'done') ~= '1' then return {0, 0} end
local bad = tonumber(redis.call('HGET', KEYS[1], 'bad') or '0')
if bad > 0 then
  redis.call('DEL', KEYS[1])
  return {0, bad}
end
redis.call('RENAME', KEYS[1], KEYS[2])
return {1, 0}`)

// ErrNoPending means the run has no complete pending list to promote
// (a later run replaced it, or it never finished).
var ErrNoPending = errors.New("the run has no complete list of ranges")

// PromotePending makes a completed run's ranges the entity's current
// list, unless target range checks found ranges that differ (bad > 0:
// the list is dropped, and those ranges are dirty in the current list).
func (s *Store) PromotePending(ctx context.Context, queue, entity string, run int64) (bad int64, err error) {
	res, err := promoteScript.Run(ctx, s.rdb, []string{pendingKey(queue, entity), rangesKey(queue, entity)}, strconv.FormatInt(run, 10)).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("promoting the ranges of entity %s in Redis: %w", entity, err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("promoting the ranges of entity %s in Redis: unexpected reply %v", entity, res)
	}
	if res[0] == 0 && res[1] == 0 {
		return 0, ErrNoPending
	}
	return res[1], nil
}

var dropPendingScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'run') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`)

// DropPending removes a run's pending ranges (the run did not complete,
// or did not leave the target as the source is).
func (s *Store) DropPending(ctx context.Context, queue, entity string, run int64) error {
	if err := dropPendingScript.Run(ctx, s.rdb, []string{pendingKey(queue, entity)}, strconv.FormatInt(run, 10)).Err(); err != nil {
		return fmt.Errorf("dropping the ranges of entity %s in Redis: %w", entity, err)
	}
	return nil
}
