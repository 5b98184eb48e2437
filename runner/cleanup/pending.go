package cleanup

import (
	"context"
	"strings"

	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
)

// Pending is one delete candidate.
type Pending struct {
	Hash []byte
	Key  schema.Row
}

// pendingDeletes are the delete candidates of one entity's run: target
// rows in a batch's key range that the batch lacked. The writer records
// them in _sisporta_pending_deletes within each batch's transaction (keyed
// by a hash of writer.KeyString) and drops them with the rows it deletes
// (writer.Target.DeleteKeys); the cleanup reads, verifies and drops them
// here.
type pendingDeletes struct {
	tg       *writer.Target
	pipeline string
	entity   string
	run      int64
}

func pendingOf(tg *writer.Target, j Job) pendingDeletes {
	return pendingDeletes{tg: tg, pipeline: j.Pipeline, entity: j.Entity, run: j.Run}
}

// count counts the candidates.
func (p pendingDeletes) count(ctx context.Context) (int64, error) {
	var n int64
	err := p.tg.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM _sisporta_pending_deletes WHERE pipeline = ? AND entity = ? AND run_id = ?`,
		p.pipeline, p.entity, p.run).Scan(&n)
	return n, p.tg.Redact(err)
}

// page returns up to limit candidates after the given hash (nil: from
// the start), in hash order.
func (p pendingDeletes) page(ctx context.Context, after []byte, limit int) ([]Pending, error) {
	if after == nil {
		after = []byte{}
	}
	rows, err := p.tg.DB().QueryContext(ctx, `SELECT key_hash, key_value FROM _sisporta_pending_deletes
WHERE pipeline = ? AND entity = ? AND run_id = ? AND key_hash > ? ORDER BY key_hash LIMIT ?`, p.pipeline, p.entity, p.run, after, limit)
	if err != nil {
		return nil, p.tg.Redact(err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var (
			c  Pending
			kv []byte
		)
		if err := rows.Scan(&c.Hash, &kv); err != nil {
			return nil, p.tg.Redact(err)
		}
		if c.Key, err = writer.ParseKeyString(string(kv)); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, p.tg.Redact(rows.Err())
}

// drop removes candidates that turned out to exist in the source.
func (p pendingDeletes) drop(ctx context.Context, hashes [][]byte) error {
	if len(hashes) == 0 {
		return nil
	}
	args := []any{p.pipeline, p.entity, p.run}
	ph := make([]string, len(hashes))
	for i, h := range hashes {
		ph[i] = "?"
		args = append(args, h)
	}
	_, err := p.tg.DB().ExecContext(ctx, `DELETE FROM _sisporta_pending_deletes WHERE pipeline = ? AND entity = ? AND run_id = ? AND key_hash IN (`+strings.Join(ph, ", ")+`)`, args...)
	return p.tg.Redact(err)
}

// clear removes every candidate of the run.
func (p pendingDeletes) clear(ctx context.Context) error {
	_, err := p.tg.DB().ExecContext(ctx, `DELETE FROM _sisporta_pending_deletes WHERE pipeline = ? AND entity = ? AND run_id = ?`, p.pipeline, p.entity, p.run)
	return p.tg.Redact(err)
}
