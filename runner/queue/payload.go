package queue

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/schema"
)

// Task types.
const (
	// TypeApplyBatch applies one batch of rows to the target.
	TypeApplyBatch = "sisporta:apply-batch"
	// TypeFinalize finishes an entity's run once all its batches are
	// applied: verifies delete candidates, runs the guarded cleanup,
	// advances the incremental watermark and records the result.
	TypeFinalize = "sisporta:finalize-entity"
)

// PayloadVersion is bumped when payloads change incompatibly.
const PayloadVersion = 1

// SparsePayloadVersion marks sparse batches (Batch.Want): a worker of an
// earlier release would take one for every row of its range and the
// others for deletes, so it must refuse it (its payload version is not
// the one it reads) rather than apply it.
const SparsePayloadVersion = 2

// BulkPayloadVersion marks batches whose rows travel in the writer's
// bulk form (Batch.Bulk), which a worker of an earlier release cannot
// read as rows.
const BulkPayloadVersion = 3

// compressAbove is the payload size from which batches are compressed
// (S2, klauspost/compress: about 1 GB/s each way, JSON of rows to a third
// or less). Redis copies a payload several times through asynq's Lua
// scripts, and holds every pending one: a full copy's server CPU in Redis
// halves with it, and its memory falls to a third.
const compressAbove = 8 << 10

// Batch is one batch of an entity's run: rows read in key order covering the
// key range (Lo, Hi]. Tasks carry everything the worker needs, so a spec
// change takes effect with the next run and never mixes into this one.
type Batch struct {
	Version  int    `json:"v"`
	Pipeline string `json:"pipeline"`
	Run      int64  `json:"run"`
	// Epoch of the run ID: IDs compare only within one (runstate).
	Epoch  string `json:"epoch,omitempty"`
	Entity string `json:"entity"`
	Seq    int    `json:"seq"`
	// Table is the target table.
	Table  string       `json:"table"`
	Schema schema.Table `json:"schema"`
	// Ranged: the batch holds every source row of (Lo, Hi], so target rows
	// in that range that it lacks are delete candidates. Batches of an
	// incremental read of changed rows are not ranged.
	Ranged bool `json:"ranged,omitempty"`
	// KeysOnly: rows hold only the key columns (the key scan that finds
	// deletes of incremental entities); nothing is written.
	KeysOnly bool `json:"keysOnly,omitempty"`
	// Lo is the last key of the previous batch (nil: from the start).
	Lo schema.Row `json:"-"`
	// Hi is the last key of this batch (nil: to the end).
	Hi schema.Row `json:"-"`
	// SoftDelete: the target keeps removed rows with _sisporta_deleted_at.
	SoftDelete bool `json:"softDelete,omitempty"`
	// Verify: the run trusts no stored row hash; the worker recomputes the
	// target rows' hashes from their values and repairs what differs.
	Verify bool `json:"verify,omitempty"`
	// TakeOverFrom is the entity's target.takeOverFrom: the owner of the
	// target table it may replace.
	TakeOverFrom string `json:"takeOverFrom,omitempty"`
	// SourceLocation is where the source reads (mysqlconn.Location): a
	// target on the same server refuses to write into that database.
	SourceLocation string `json:"sourceLocation,omitempty"`
	// Spec and Driver come with key-scan batches: the worker reads rows the
	// target lacks from the source by key.
	Spec   *syncv1alpha1.EntitySpec  `json:"spec,omitempty"`
	Driver syncv1alpha1.SourceDriver `json:"driver,omitempty"`
	// Source holds the source's read options (SourceOptions) for the
	// worker's reads, when the batch has a Spec.
	Source *syncv1alpha1.SourceSpec `json:"source,omitempty"`
	// Digest of the rows' hashes (ranged row batches): when the target's
	// range has the same, nothing changed there.
	Digest *schema.Digest `json:"digest,omitempty"`
	// Checks, when present, make the batch a range check instead: key
	// ranges the run skipped because their source digest had not changed
	// since the last complete run. The worker compares each with the
	// target's digest of the range; one that differs (rows deleted or
	// changed behind Sisporta's back, a table emptied) is marked to be read
	// again in the ranges of run RangeBase, and the run's own ranges are
	// not kept. Such a batch has no rows and writes nothing.
	Checks []RangeCheck `json:"checks,omitempty"`
	// RangeBase is the run whose list of ranges Checks index.
	RangeBase int64        `json:"rangeBase,omitempty"`
	Rows      []schema.Row `json:"-"`
	// Parts, Want and Unchanged make a ranged batch sparse: the extractor
	// compared (Lo, Hi] with the target and sends only the key ranges
	// where they differ, Rows holding each part's source rows in turn
	// (writer's sparse.go). Want is the digest of the range's live target
	// rows once the parts are applied; Unchanged counts the range's rows
	// that did not travel.
	Parts     []Part         `json:"-"`
	Want      *schema.Digest `json:"want,omitempty"`
	Unchanged int            `json:"unchanged,omitempty"`
	// Group is how many batches' worth of rows the batch holds (a full
	// read into ranges the target holds nothing of sends several a batch):
	// it weighs as many against the extractor's limit of pending batches.
	Group int `json:"-"`
	// Bulk, when set, holds the rows (BulkRows of them) in the writer's
	// bulk form (writer.BulkEncoder) instead of Rows: the payload carries
	// its bytes as they are, after the header.
	Bulk     []byte `json:"-"`
	BulkRows int    `json:"bulkRows,omitempty"`

	// rawRows holds the undecoded rows of DecodeBatchHeader.
	rawRows []byte
}

// Part is one key range (Lo, Hi] of a sparse batch and how many of its
// rows are the part's.
type Part struct {
	Lo, Hi schema.Row
	Rows   int
}

// partJSON is Part's JSON shape: keys by the row codec.
type partJSON struct {
	Lo   json.RawMessage `json:"lo"`
	Hi   json.RawMessage `json:"hi"`
	Rows int             `json:"n"`
}

// RangeCheck is one key range (Lo, Hi] a run skipped, and the digest of
// the rows Sisporta left in the target's range when it last wrote it.
type RangeCheck struct {
	// Index of the range in the list of run Batch.RangeBase.
	Index int           `json:"i"`
	Lo    schema.Row    `json:"lo"`
	Hi    schema.Row    `json:"hi"`
	Want  schema.Digest `json:"want"`
}

// Finalize finishes an entity's run.
type Finalize struct {
	Version  int    `json:"v"`
	Pipeline string `json:"pipeline"`
	Run      int64  `json:"run"`
	// Epoch of the run ID (see Batch.Epoch).
	Epoch  string `json:"epoch,omitempty"`
	Entity string `json:"entity"`
	// Batches is how many apply-batch tasks the run enqueued for the entity
	// (including key-scan batches).
	Batches int `json:"batches"`
	// RowsRead from the source (changed rows of incremental entities).
	RowsRead int64 `json:"rowsRead"`
	// KeysScanned is the key scan's row count of an incremental entity: the
	// rows the source has, which the zero-read guard judges.
	KeysScanned int64 `json:"keysScanned,omitempty"`
	// RowsSkipped are the rows of the key ranges the run did not read
	// because their source digest had not changed (RangesSkipped of them):
	// rows the source has, unchanged.
	RowsSkipped   int64 `json:"rowsSkipped,omitempty"`
	RangesSkipped int   `json:"rangesSkipped,omitempty"`
	// Ranges: the run kept its key ranges (runstate.StartPending); they
	// become the entity's current ranges if the run leaves the target as
	// the source is.
	Ranges bool `json:"ranges,omitempty"`
	// Failed carries the extractor's error when reading the entity failed:
	// the worker records the failure and cleans nothing.
	Failed string                    `json:"failed,omitempty"`
	Table  string                    `json:"table"`
	Schema schema.Table              `json:"schema"`
	Driver syncv1alpha1.SourceDriver `json:"driver"`
	// Source holds the source's read options (SourceOptions), for the
	// worker's delete checks.
	Source *syncv1alpha1.SourceSpec `json:"source,omitempty"`
	// Spec is the entity as the run read it: the worker resolves it against
	// the source to verify delete candidates.
	Spec syncv1alpha1.EntitySpec `json:"spec"`
	// Cursor is the watermark to store once the run is complete.
	Cursor string `json:"cursor,omitempty"`
	// SourceLocation is the batches' (see Batch.SourceLocation).
	SourceLocation string `json:"sourceLocation,omitempty"`
	// Verify: the run's batches verified every target row.
	Verify       bool      `json:"verify,omitempty"`
	SnapshotTime time.Time `json:"snapshotTime"`
	// WaitUntil is how long finalize waits for missing batches before it
	// gives up on the run (cleanup skipped; the next run starts afresh).
	WaitUntil time.Time `json:"waitUntil"`
}

// batchHeader is Batch's JSON shape: the rows and keys are encoded by the
// row codec.
type batchHeader struct {
	Batch
	Lo    json.RawMessage `json:"lo"`
	Hi    json.RawMessage `json:"hi"`
	Parts []partJSON      `json:"parts,omitempty"`
	Rows  json.RawMessage `json:"rows"`
}

func kindsOf(t schema.Table, keysOnly bool) []schema.Kind {
	cols := t.Columns
	if keysOnly {
		cols = t.KeyColumns()
	}
	k := make([]schema.Kind, len(cols))
	for i, c := range cols {
		k[i] = c.Kind
	}
	return k
}

// EncodeBatch renders a batch as JSON, compressed when large: its header
// fields, then the rows, always last: a JSON array, or the bulk form's
// bytes as they are (not JSON: the payload is read by DecodeBatchHeader
// alone).
func EncodeBatch(b *Batch) ([]byte, error) {
	b.Version = PayloadVersion
	switch {
	case b.Bulk != nil && (b.Want != nil || len(b.Rows) > 0 || b.BulkRows <= 0):
		return nil, fmt.Errorf("batch %d: bulk rows go alone, and there must be some", b.Seq)
	case b.Bulk != nil:
		b.Version = BulkPayloadVersion
	case b.Want != nil:
		b.Version = SparsePayloadVersion
	}
	keyKinds := kindsOf(b.Schema, true)
	h := batchHeader{Batch: *b, Lo: encodeKey(b.Lo, keyKinds), Hi: encodeKey(b.Hi, keyKinds)}
	for _, p := range b.Parts {
		h.Parts = append(h.Parts, partJSON{Lo: encodeKey(p.Lo, keyKinds), Hi: encodeKey(p.Hi, keyKinds), Rows: p.Rows})
	}
	h.Rows = json.RawMessage("[]")
	head, err := json.Marshal(&h)
	if err != nil {
		return nil, err
	}
	// Splice the rows in place of the placeholder, avoiding a second copy
	// of the largest part through encoding/json.
	i := bytes.LastIndex(head, []byte(`"rows":[]`))
	if i < 0 {
		return nil, fmt.Errorf("batch header has no rows field")
	}
	buf := scratch(len(head) + estimateRows(b.Rows) + len(b.Bulk))
	defer scratchBufs.Put(buf)
	out := append((*buf)[:0], head[:i+len(`"rows":`)]...)
	if b.Bulk != nil {
		out = append(out, b.Bulk...)
	} else {
		out = appendRows(out, b.Rows, kindsOf(b.Schema, b.KeysOnly))
		out = append(out, head[i+len(`"rows":[]`):]...)
	}
	*buf = out
	if len(out) > compressAbove {
		return compress(out), nil
	}
	return bytes.Clone(out), nil
}

// scratchBufs are EncodeBatch's working buffers, reused: a batch's JSON
// and its compressed form are a few MiB a batch that would otherwise be
// allocated, and zeroed, for every batch (a tenth of the extractor's CPU).
var scratchBufs sync.Pool

// scratch is a buffer of scratchBufs with room for n bytes; Put it back.
func scratch(n int) *[]byte {
	if p, ok := scratchBufs.Get().(*[]byte); ok && cap(*p) >= n {
		return p
	}
	b := make([]byte, 0, n)
	return &b
}

func estimateRows(rows []schema.Row) int {
	if len(rows) == 0 {
		return 2
	}
	n := 0
	for _, v := range rows[0] {
		n += len(v) + 4
	}
	return (n + 3) * len(rows) * 5 / 4
}

func encodeKey(k schema.Row, kinds []schema.Kind) json.RawMessage {
	if k == nil {
		return json.RawMessage("null")
	}
	return appendRow(nil, k, kinds)
}

// DecodeBatchHeader reads everything but the rows, which LoadRows decodes
// when they are needed: a batch whose digest matches the target is never
// decoded further. The header is decoded by encoding/json; the rows, always
// the last field, by the row codec straight from the payload (values
// without escapes share its memory), so the largest part is scanned once.
func DecodeBatchHeader(payload []byte) (*Batch, error) {
	data, err := decompress(payload)
	if err != nil {
		return nil, err
	}
	head, rowsAt, err := splitRows(data)
	if err != nil {
		return nil, err
	}
	var h batchHeader
	if err := json.Unmarshal(head, &h); err != nil {
		return nil, fmt.Errorf("batch payload is not valid: %w", err)
	}
	bulk := h.Version == BulkPayloadVersion && h.BulkRows > 0 && h.Want == nil
	if h.Version != PayloadVersion && !(h.Version == SparsePayloadVersion && h.Want != nil) && !bulk {
		return nil, fmt.Errorf("batch payload version %d, this worker reads %d: run workers of the extractor's version", h.Version, PayloadVersion)
	}
	b := h.Batch
	keyKinds := kindsOf(b.Schema, true)
	if b.Lo, err = decodeKey(h.Lo, keyKinds); err != nil {
		return nil, err
	}
	if b.Hi, err = decodeKey(h.Hi, keyKinds); err != nil {
		return nil, err
	}
	for _, p := range h.Parts {
		var part Part
		if part.Lo, err = decodeKey(p.Lo, keyKinds); err != nil {
			return nil, err
		}
		if part.Hi, err = decodeKey(p.Hi, keyKinds); err != nil {
			return nil, err
		}
		part.Rows = p.Rows
		b.Parts = append(b.Parts, part)
	}
	if bulk {
		b.Bulk = data[rowsAt:]
	} else {
		b.rawRows = data[rowsAt:]
	}
	return &b, nil
}

// LoadRows decodes the rows of a batch read by DecodeBatchHeader.
func (b *Batch) LoadRows() error {
	if b.rawRows == nil {
		return nil
	}
	p := &rowParser{data: b.rawRows, share: true}
	rows, err := p.rows(kindsOf(b.Schema, b.KeysOnly))
	if err != nil {
		return err
	}
	b.Rows, b.rawRows = rows, nil
	return nil
}

// RowCount is the number of rows, decoded or not.
func (b *Batch) RowCount() int {
	if b.Bulk != nil {
		return b.BulkRows
	}
	if b.rawRows != nil && b.Digest != nil {
		return b.Digest.Count
	}
	return len(b.Rows)
}

// splitRows finds the "rows" field (the payload's last) and returns the
// header as a JSON object without it, and where the rows' value starts.
func splitRows(data []byte) (head []byte, rowsAt int, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, 0, fmt.Errorf("batch payload is not a JSON object")
	}
	for dec.More() {
		before := dec.InputOffset()
		key, err := dec.Token()
		if err != nil {
			return nil, 0, fmt.Errorf("batch payload is not valid: %w", err)
		}
		if key == "rows" {
			// Just past the colon: bulk rows are bytes, where a leading
			// space or tab is data (the JSON row parser skips its own).
			i := int(dec.InputOffset())
			for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r') {
				i++
			}
			if i == len(data) || data[i] != ':' {
				return nil, 0, fmt.Errorf("batch payload is not valid: no value after \"rows\"")
			}
			i++
			head = append(append(make([]byte, 0, before+1), data[:before]...), '}')
			return head, i, nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, 0, fmt.Errorf("batch payload is not valid: %w", err)
		}
	}
	return nil, 0, fmt.Errorf("batch payload has no rows")
}

func decodeKey(raw json.RawMessage, kinds []schema.Kind) (schema.Row, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	rows, err := parseRows(append(append([]byte{'['}, raw...), ']'), kinds)
	if err != nil || len(rows) != 1 {
		return nil, fmt.Errorf("batch key range is not valid: %v", err)
	}
	return rows[0], nil
}

// EncodeFinalize renders a finalize payload.
func EncodeFinalize(f *Finalize) ([]byte, error) {
	f.Version = PayloadVersion
	return json.Marshal(f)
}

// DecodeFinalize reads a finalize payload.
func DecodeFinalize(payload []byte) (*Finalize, error) {
	var f Finalize
	if err := json.Unmarshal(payload, &f); err != nil {
		return nil, fmt.Errorf("finalize payload is not valid: %w", err)
	}
	if f.Version != PayloadVersion {
		return nil, fmt.Errorf("finalize payload version %d, this worker reads %d", f.Version, PayloadVersion)
	}
	return &f, nil
}

// s2Magic starts a compressed payload: no JSON starts with 0xff.
var s2Magic = []byte("\xffS2\x00")

func compress(b []byte) []byte {
	buf := scratch(s2.MaxEncodedLen(len(b)))
	defer scratchBufs.Put(buf)
	enc := s2.Encode((*buf)[:cap(*buf)], b)
	out := make([]byte, len(s2Magic)+len(enc))
	copy(out, s2Magic)
	copy(out[len(s2Magic):], enc)
	return out
}

// decompress reads a payload as EncodeBatch wrote it: compressed, plain,
// or gzipped (by releases before S2, in a dead-letter queue say).
func decompress(b []byte) ([]byte, error) {
	if bytes.HasPrefix(b, s2Magic) {
		out, err := s2.Decode(nil, b[len(s2Magic):])
		if err != nil {
			return nil, fmt.Errorf("batch payload is not valid S2: %w", err)
		}
		return out, nil
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("batch payload is not valid gzip: %w", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("batch payload is not valid gzip: %w", err)
	}
	return out, nil
}

// SourceOptions is the source spec a payload carries: the driver and the
// read options, never the Secret reference (the worker has its own DSN).
func SourceOptions(spec syncv1alpha1.SourceSpec) *syncv1alpha1.SourceSpec {
	spec.DSNSecretRef = syncv1alpha1.SecretKeySelector{}
	return &spec
}

// SourceOf is the source spec a payload names: its Source, or for payloads
// of older releases the driver alone.
func SourceOf(driver syncv1alpha1.SourceDriver, opts *syncv1alpha1.SourceSpec) syncv1alpha1.SourceSpec {
	if opts != nil {
		return *opts
	}
	return syncv1alpha1.SourceSpec{Driver: driver}
}
