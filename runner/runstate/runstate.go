// Package runstate keeps the compact run summary in Redis that the operator
// reads for the SyncPipeline status, and allocates run IDs.
//
// Keys, all carrying the queue name as a hash tag so a pipeline's keys share
// one Redis Cluster slot:
//
//	sisporta:{<queue>}:runids           HASH: last (run ID handed out), epoch (see NewRunID)
//	sisporta:{<queue>}:runs             ZSET of run IDs (score = ID), newest 50 kept
//	sisporta:{<queue>}:run:<id>         HASH, one run:
//	    meta                JSON Meta: id, pipeline, snapshot and start time, entities
//	    extract:<entity>    JSON Extract: rows read, batches, done, error
//	    final:<entity>      JSON Final: result, counts, cleanup, error
//	    applied:<entity>    batches applied so far (progress; Final is exact)
//	    written:<entity>    rows written so far (progress)
//	    unchanged:<entity>  rows left unchanged so far (progress)
//	    loaded:<entity>     batches loaded in bulk into key ranges the target held nothing of
//	                        (while most are, the extractor sends several batches' worth a batch)
//	sisporta:{<queue>}:verify           HASH: last (ms) a verifying run started, since (runs after it)
//	sisporta:{<queue>}:ranges:<entity>  HASH, the key ranges of the entity's last complete run (ranges.go):
//	    run, epoch, shape   the run that read them, and the entity's digest shape
//	    base                the run whose ranges that run started from (0: none)
//	    n, done             how many ranges; done=1 once the list is complete
//	    <i>                 JSON Range i: upper key (canonical and as source parameters),
//	                        rows, digest of the rows Sisporta left in the target's range
//	    s:<i>               range i's source digest; absent: the next run reads the range
//	sisporta:{<queue>}:ranges-pending:<entity>  HASH, the same for the run being applied,
//	                        plus bad: ranges its checks found changed in the target; it is
//	                        renamed to ranges:<entity> when the run left the target as the
//	                        source is, and dropped otherwise
//
// Incremental entities' cursors are not kept here but in the target database
// (_sisporta_entities), the one record extractions read: a cursor:<entity>
// key an older release left is read by nothing.
//
// Run hashes expire after 30 days. The authoritative record of every run is
// the _sisporta_runs table in the target database; this summary is what a
// process without database access (the operator) needs.
package runstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/rediskit"
)

const (
	keepRuns = 50
	runTTL   = 30 * 24 * time.Hour
)

// Meta describes a run as the extractor starts it.
type Meta struct {
	ID           int64     `json:"id"`
	Pipeline     string    `json:"pipeline"`
	SnapshotTime time.Time `json:"snapshotTime"`
	StartTime    time.Time `json:"startTime"`
	Entities     []string  `json:"entities"`
	// Trigger says what started the run: schedule, run-now, sync.
	Trigger string `json:"trigger,omitempty"`
	// Verify: the run recomputes every target row's hash from its values.
	Verify bool `json:"verify,omitempty"`
	// Epoch of the run ID (see NewRunID).
	Epoch string `json:"epoch,omitempty"`
	// Warnings are advice found at the start of the run (a source login
	// that can write): nothing failed because of them.
	Warnings []string `json:"warnings,omitempty"`
}

// Extract is the extractor's account of one entity.
type Extract struct {
	RowsRead int64 `json:"rowsRead"`
	// RowsSkipped were not read: their key ranges (RangesSkipped) had the
	// source digest of the last complete run.
	RowsSkipped   int64     `json:"rowsSkipped,omitempty"`
	RangesSkipped int       `json:"rangesSkipped,omitempty"`
	Batches       int       `json:"batches"`
	Done          bool      `json:"done"`
	Error         string    `json:"error,omitempty"`
	StartTime     time.Time `json:"startTime"`
	EndTime       time.Time `json:"endTime,omitempty"`
	Incremental   bool      `json:"incremental,omitempty"`
}

// Cleanup is the account of one entity's cleanup.
type Cleanup struct {
	Time    time.Time                  `json:"time"`
	Result  syncv1alpha1.CleanupResult `json:"result"`
	Deleted int64                      `json:"deleted"`
	Message string                     `json:"message,omitempty"`
}

// Final is the worker's account of one entity once it is finished.
type Final struct {
	Result        syncv1alpha1.RunResult `json:"result"`
	RowsRead      int64                  `json:"rowsRead"`
	RowsWritten   int64                  `json:"rowsWritten"`
	RowsUnchanged int64                  `json:"rowsUnchanged"`
	RowsDeleted   int64                  `json:"rowsDeleted"`
	RowsRepaired  int64                  `json:"rowsRepaired,omitempty"`
	// RowsSkipped (among RowsUnchanged) were not read: their key ranges,
	// RangesSkipped of them, had the source digest of the last complete
	// run.
	RowsSkipped   int64    `json:"rowsSkipped,omitempty"`
	RangesSkipped int      `json:"rangesSkipped,omitempty"`
	Cleanup       *Cleanup `json:"cleanup,omitempty"`
	Error         string   `json:"error,omitempty"`
	// Warnings say what the run found that did not fail it.
	Warnings []string  `json:"warnings,omitempty"`
	EndTime  time.Time `json:"endTime"`
}

// EntityRun is one entity of a composed Run.
type EntityRun struct {
	Name           string
	Extract        *Extract
	Final          *Final
	BatchesApplied int64
	RowsWritten    int64
	RowsUnchanged  int64
}

// Result is the entity's result so far.
func (e EntityRun) Result() syncv1alpha1.RunResult {
	switch {
	case e.Final != nil:
		return e.Final.Result
	case e.Extract != nil && e.Extract.Error != "":
		return syncv1alpha1.RunFailed
	default:
		return syncv1alpha1.RunRunning
	}
}

// Run is a run composed from its hash.
type Run struct {
	Meta     Meta
	Entities []EntityRun
}

// Result is Running until every entity is final, then Succeeded, Failed
// (every entity failed) or PartiallyFailed.
func (r *Run) Result() syncv1alpha1.RunResult {
	failed, done := 0, 0
	for _, e := range r.Entities {
		switch e.Result() {
		case syncv1alpha1.RunRunning:
			continue
		case syncv1alpha1.RunFailed:
			failed++
		}
		done++
	}
	switch {
	case done < len(r.Meta.Entities) || len(r.Entities) < len(r.Meta.Entities):
		return syncv1alpha1.RunRunning
	case failed == 0:
		return syncv1alpha1.RunSucceeded
	case failed == done:
		return syncv1alpha1.RunFailed
	default:
		return syncv1alpha1.RunPartiallyFailed
	}
}

// FailedEntities names the entities that failed, sorted.
func (r *Run) FailedEntities() []string {
	var out []string
	for _, e := range r.Entities {
		if e.Result() == syncv1alpha1.RunFailed {
			out = append(out, e.Name)
		}
	}
	return out
}

// Totals sums the counts over entities: final counts where an entity is
// final, progress counts otherwise.
func (r *Run) Totals() (read, written, unchanged, deleted int64) {
	for _, e := range r.Entities {
		if e.Final != nil {
			read += e.Final.RowsRead
			written += e.Final.RowsWritten
			unchanged += e.Final.RowsUnchanged
			deleted += e.Final.RowsDeleted
			continue
		}
		if e.Extract != nil {
			read += e.Extract.RowsRead
		}
		written += e.RowsWritten
		unchanged += e.RowsUnchanged
	}
	return
}

// Repaired sums the rows a verifying run repaired, over final entities.
func (r *Run) Repaired() int64 {
	var n int64
	for _, e := range r.Entities {
		if e.Final != nil {
			n += e.Final.RowsRepaired
		}
	}
	return n
}

// CompletionTime is the latest entity end time once the run is complete.
func (r *Run) CompletionTime() (time.Time, bool) {
	if r.Result() == syncv1alpha1.RunRunning {
		return time.Time{}, false
	}
	var t time.Time
	for _, e := range r.Entities {
		end := time.Time{}
		if e.Final != nil {
			end = e.Final.EndTime
		} else if e.Extract != nil {
			end = e.Extract.EndTime
		}
		if end.After(t) {
			t = end
		}
	}
	return t, true
}

// Message joins the errors of failed entities.
func (r *Run) Message() string {
	var msgs []string
	for _, e := range r.Entities {
		switch {
		case e.Final != nil && e.Final.Error != "":
			msgs = append(msgs, e.Name+": "+e.Final.Error)
		case e.Final == nil && e.Extract != nil && e.Extract.Error != "":
			msgs = append(msgs, e.Name+": "+e.Extract.Error)
		}
	}
	return strings.Join(msgs, "; ")
}

// Store reads and writes run summaries.
type Store struct {
	rdb redis.UniversalClient
}

// NewStore returns a store on a Redis client.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

func keyPrefix(queue string) string { return "sisporta:{" + queue + "}:" }
func seqKey(queue string) string    { return keyPrefix(queue) + "runids" }
func runsKey(queue string) string   { return keyPrefix(queue) + "runs" }
func runKey(queue string, id int64) string {
	return keyPrefix(queue) + "run:" + strconv.FormatInt(id, 10)
}
func verifyKey(queue string) string { return keyPrefix(queue) + "verify" }

// VerifyDue decides whether a run starting now verifies, by the policy
// "every everyRuns runs" and "when the last verifying run started at least
// interval ago" (either may be 0: not used; both 0: never), and records
// the decision. A pipeline with a policy and no record (its first run, or
// a Redis that lost its data) verifies: the safe way to be wrong. Called
// under the extraction lock, so runs do not race.
func (s *Store) VerifyDue(ctx context.Context, queue string, everyRuns int, interval time.Duration, now time.Time) (bool, error) {
	if everyRuns <= 0 && interval <= 0 {
		return false, nil
	}
	key := verifyKey(queue)
	h, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return false, fmt.Errorf("reading the verification schedule in Redis: %w", err)
	}
	last, errLast := strconv.ParseInt(h["last"], 10, 64)
	since, _ := strconv.ParseInt(h["since"], 10, 64)
	due := errLast != nil ||
		(everyRuns > 0 && since+1 >= int64(everyRuns)) ||
		(interval > 0 && now.Sub(time.UnixMilli(last)) >= interval)
	if due {
		err = s.rdb.HSet(ctx, key, "last", now.UnixMilli(), "since", 0).Err()
	} else {
		err = s.rdb.HIncrBy(ctx, key, "since", 1).Err()
	}
	if err != nil {
		return false, fmt.Errorf("recording the verification schedule in Redis: %w", err)
	}
	return due, nil
}

// allocScript hands out max(Redis's clock in ms, last + 1) within an epoch:
// a random name the run-ID counter gets when it is created. IDs of one
// epoch only grow, whatever the extractors' clocks say; a Redis that lost
// its data, or another Redis, starts a new epoch, and the target then
// orders runs by when it first saw them instead of by comparing IDs of two
// timelines (see writer.Target.RegisterRun).
var allocScript = redis.NewScript(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local t = redis.call('TIME')
local id = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if id <= last then id = last + 1 end
redis.call('HSET', KEYS[1], 'last', id)
return {id, epoch}`)

// NewRunID allocates a run ID for the queue, and names the epoch it
// belongs to.
func (s *Store) NewRunID(ctx context.Context, queue string) (id int64, epoch string, err error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	res, err := allocScript.Run(ctx, s.rdb, []string{seqKey(queue)}, hex.EncodeToString(b)).Slice()
	if err != nil {
		return 0, "", fmt.Errorf("allocating a run ID in Redis: %w", err)
	}
	if len(res) != 2 {
		return 0, "", fmt.Errorf("allocating a run ID in Redis: unexpected reply %v", res)
	}
	id, _ = res[0].(int64)
	epoch, _ = res[1].(string)
	if id == 0 || epoch == "" {
		return 0, "", fmt.Errorf("allocating a run ID in Redis: unexpected reply %v", res)
	}
	return id, epoch, nil
}

// Start records a run's meta and adds it to the run list.
func (s *Store) Start(ctx context.Context, queue string, m Meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	key := runKey(queue, m.ID)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "meta", b)
		p.Expire(ctx, key, runTTL)
		p.ZAdd(ctx, runsKey(queue), redis.Z{Score: float64(m.ID), Member: m.ID})
		p.ZRemRangeByRank(ctx, runsKey(queue), 0, -keepRuns-1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording run %d in Redis: %w", m.ID, err)
	}
	return nil
}

func (s *Store) setJSON(ctx context.Context, queue string, id int64, field string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, runKey(queue, id), field, b).Err(); err != nil {
		return fmt.Errorf("recording %s of run %d in Redis: %w", field, id, err)
	}
	return nil
}

// SetExtract records the extractor's account of an entity.
func (s *Store) SetExtract(ctx context.Context, queue string, id int64, entity string, e Extract) error {
	return s.setJSON(ctx, queue, id, "extract:"+entity, e)
}

// SetFinal records an entity's final result.
func (s *Store) SetFinal(ctx context.Context, queue string, id int64, entity string, f Final) error {
	return s.setJSON(ctx, queue, id, "final:"+entity, f)
}

// AddProgress counts one applied batch of an entity.
func (s *Store) AddProgress(ctx context.Context, queue string, id int64, entity string, written, unchanged int64) error {
	return s.AddBatchProgress(ctx, queue, id, entity, written, unchanged, false)
}

// AddBatchProgress counts one applied batch of an entity, and whether it
// was loaded in bulk into a key range the target held nothing of.
func (s *Store) AddBatchProgress(ctx context.Context, queue string, id int64, entity string, written, unchanged int64, loaded bool) error {
	key := runKey(queue, id)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HIncrBy(ctx, key, "applied:"+entity, 1)
		p.HIncrBy(ctx, key, "written:"+entity, written)
		p.HIncrBy(ctx, key, "unchanged:"+entity, unchanged)
		if loaded {
			p.HIncrBy(ctx, key, "loaded:"+entity, 1)
		}
		return nil
	})
	return err
}

// Loaded returns how many batches of an entity's run were applied so far,
// and how many of those were loaded in bulk into key ranges the target
// held nothing of.
func (s *Store) Loaded(ctx context.Context, queue string, id int64, entity string) (applied, loaded int64, err error) {
	vals, err := s.rdb.HMGet(ctx, runKey(queue, id), "applied:"+entity, "loaded:"+entity).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("reading the progress of run %d in Redis: %w", id, err)
	}
	num := func(v any) int64 {
		s, _ := v.(string)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	return num(vals[0]), num(vals[1]), nil
}

// Get returns one run, or nil when it is not recorded.
func (s *Store) Get(ctx context.Context, queue string, id int64) (*Run, error) {
	h, err := s.rdb.HGetAll(ctx, runKey(queue, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading run %d from Redis: %w", id, err)
	}
	if len(h) == 0 || h["meta"] == "" {
		return nil, nil
	}
	return compose(h)
}

func compose(h map[string]string) (*Run, error) {
	r := &Run{}
	if err := json.Unmarshal([]byte(h["meta"]), &r.Meta); err != nil {
		return nil, fmt.Errorf("run summary meta is not valid JSON: %w", err)
	}
	byName := map[string]*EntityRun{}
	names := append([]string(nil), r.Meta.Entities...)
	for _, n := range names {
		byName[n] = &EntityRun{Name: n}
	}
	for field, val := range h {
		kind, name, ok := strings.Cut(field, ":")
		if !ok {
			continue
		}
		e := byName[name]
		if e == nil {
			e = &EntityRun{Name: name}
			byName[name] = e
			names = append(names, name)
		}
		switch kind {
		case "extract":
			e.Extract = &Extract{}
			if err := json.Unmarshal([]byte(val), e.Extract); err != nil {
				return nil, fmt.Errorf("run summary %s is not valid JSON: %w", field, err)
			}
		case "final":
			e.Final = &Final{}
			if err := json.Unmarshal([]byte(val), e.Final); err != nil {
				return nil, fmt.Errorf("run summary %s is not valid JSON: %w", field, err)
			}
		case "applied":
			e.BatchesApplied, _ = strconv.ParseInt(val, 10, 64)
		case "written":
			e.RowsWritten, _ = strconv.ParseInt(val, 10, 64)
		case "unchanged":
			e.RowsUnchanged, _ = strconv.ParseInt(val, 10, 64)
		}
	}
	for _, n := range names {
		r.Entities = append(r.Entities, *byName[n])
	}
	return r, nil
}

// Recent returns up to n runs, newest first.
func (s *Store) Recent(ctx context.Context, queue string, n int) ([]*Run, error) {
	ids, err := s.rdb.ZRevRange(ctx, runsKey(queue), 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing runs in Redis: %w", err)
	}
	var out []*Run
	for _, sid := range ids {
		id, err := strconv.ParseInt(sid, 10, 64)
		if err != nil {
			continue
		}
		r, err := s.Get(ctx, queue, id)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Meta.ID > out[j].Meta.ID })
	return out, nil
}

// Latest returns the newest run and the newest succeeded run (either may be
// nil), looking back over the kept runs.
func (s *Store) Latest(ctx context.Context, queue string) (last, lastSucceeded *Run, err error) {
	runs, err := s.Recent(ctx, queue, keepRuns)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range runs {
		if last == nil {
			last = r
		}
		if r.Result() == syncv1alpha1.RunSucceeded {
			lastSucceeded = r
			break
		}
	}
	return last, lastSucceeded, nil
}

// Purge removes every key this package keeps for a queue (the tasks
// themselves are asynq's: delete the queue with its Inspector).
func (s *Store) Purge(ctx context.Context, queue string) error {
	if err := rediskit.DeleteMatching(ctx, s.rdb, keyPrefix(queue)+"*"); err != nil {
		return fmt.Errorf("deleting the run summary in Redis: %w", err)
	}
	return nil
}
