package writer

import (
	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
)

// Batch is one batch of an entity's run as the writer needs it: rows in
// key order covering the key range (Lo, Hi]. The worker builds it from
// the queue's payload; the writer knows nothing of how batches travel.
type Batch struct {
	Pipeline string
	Run      int64
	// Epoch of the run ID: IDs compare only within one (see RegisterRun).
	Epoch  string
	Entity string
	Seq    int
	// Table is the target table.
	Table  string
	Schema schema.Table
	// Ranged: the batch holds every source row of (Lo, Hi], so target rows
	// in that range that it lacks are delete candidates.
	Ranged bool
	// KeysOnly: rows hold only the key columns (the key scan that finds
	// deletes of incremental entities); nothing is written but fetched rows.
	KeysOnly bool
	// Lo is the last key of the previous batch (nil: from the start); Hi
	// the last key of this one (nil: to the end).
	Lo, Hi schema.Row
	// SoftDelete: the target keeps removed rows with DeletedColumn.
	SoftDelete bool
	// Verify: trust no stored row hash; recompute the target rows' hashes
	// from their values and repair what differs.
	Verify bool
	// TakeOverFrom is the owner of the target table the entity may replace.
	TakeOverFrom string
	// SourceLocation is where the source reads (mysqlconn.Location): a
	// target on the same server refuses to write into that database.
	SourceLocation string
	// Digest of the rows' hashes (ranged row batches): when the target's
	// range has the same, nothing changed there.
	Digest *schema.Digest
	// Rows in key order, in Schema's column order (only the key columns
	// when KeysOnly).
	Rows []schema.Row
	// Parts, Want and Unchanged make a ranged batch sparse (sparse.go):
	// Rows are the source rows of each part of (Lo, Hi] in turn, Want the
	// digest of the range's live target rows once they are applied, and
	// Unchanged the range's rows the extractor found unchanged.
	Parts     []Part
	Want      *schema.Digest
	Unchanged int
	// DecodeRows, when set, yields Rows the first time they are needed: a
	// batch whose range matches its digest is never decoded.
	DecodeRows func() ([]schema.Row, error)
	// Bulk, when set, holds the batch's BulkRows rows in the bulk form
	// (bulk.go: LOAD DATA's input, each row with its hash) instead of Rows.
	Bulk     []byte
	BulkRows int
}

// RangeCheck is one key range (Lo, Hi] a run skipped, and the digest of
// the rows Sisporta left in the target's range when it last wrote it.
type RangeCheck struct {
	// Index names the range to the caller (CheckResult.Differ).
	Index  int
	Lo, Hi schema.Row
	Want   schema.Digest
}

// loadRows decodes the rows once, if they came undecoded.
func (b *Batch) loadRows(codecs []mysqltype.Codec) error {
	if b.Bulk != nil {
		rows, err := parseBulk(codecs, b.Bulk, b.BulkRows)
		if err != nil {
			return err
		}
		// Decoded for good: a second call (the retry after LOAD DATA
		// warned) must not decode anything else in their place.
		b.Rows, b.Bulk, b.BulkRows, b.DecodeRows = rows, nil, 0, nil
		return nil
	}
	if b.DecodeRows == nil {
		return nil
	}
	rows, err := b.DecodeRows()
	if err != nil {
		return err
	}
	b.Rows, b.DecodeRows = rows, nil
	return nil
}
