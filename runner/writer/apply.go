package writer

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"

	"github.com/sisporta/sisporta/runner/failure"
	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
)

// Skip reasons of ApplyBatch.
const (
	SkipDuplicate  = "duplicate"  // the ledger already has the batch
	SkipSuperseded = "superseded" // a newer run of the entity has started
)

// ApplyResult counts what a batch did.
type ApplyResult struct {
	Skipped string
	// DigestMatched: the target's range had the batch's digest, so the rows
	// were not compared one by one.
	DigestMatched bool
	Written       int
	Unchanged     int
	Candidates    int
	// Repaired rows were rewritten by a verifying batch because their
	// values differed from what their stored hash claimed (included in
	// Written).
	Repaired int
	// Fetched rows were read from the source by key because a key scan
	// found them missing from the target (included in Written).
	Fetched int
	// RangeRows counts the target rows the batch's key range held, each
	// time it was read (the digest check and the row read): about the
	// batch's own size when the target orders keys as the source does,
	// and a large share of the table when it does not.
	RangeRows int
	// Loaded: the rows were all new and went in through LOAD DATA.
	Loaded bool
	// Stale: a sparse batch found the target's range otherwise than the
	// extractor had read it (see sparse.go); its parts were applied.
	Stale bool
}

// Fetcher reads full rows of the batch's entity from the source by key
// (canonical values, key order), in the batch's schema order. Keys the
// source no longer has are simply not returned.
type Fetcher func(ctx context.Context, keys []schema.Row) ([]schema.Row, error)

// ApplyOptions are what a batch needs beyond its payload.
type ApplyOptions struct {
	// Fetch, for key-scan batches of incremental entities, brings rows the
	// target lacks although the source has them (inserted with a cursor
	// value older than the watermark, or back in the where filter): the
	// changed-rows read cannot see them.
	Fetch Fetcher
	// OnStale is called, in the batch's transaction, when a sparse batch
	// finds its range's digest otherwise than the extractor read it (an
	// error rolls the batch back, to be tried again).
	OnStale func() error
}

// Statement bounds: the packet must fit max_allowed_packet (16 MiB by
// default on MariaDB, 64 MiB on MySQL 8).
const (
	maxStmtBytes = 4 << 20
	lookupChunk  = 500
)

type targetRow struct {
	hash    uint64 // the stored row hash
	hasHash bool
	deleted bool
	// actual is the hash of the row's values as they are, read by a
	// verifying batch (which trusts no stored hash).
	actual uint64
}

// unchanged reports whether the target row is the source row of hash h.
func (r targetRow) unchanged(h uint64, verify bool) bool {
	return r.hasHash && r.hash == h && !r.deleted && (!verify || r.actual == h)
}

// ApplyBatch applies a batch in one transaction: it skips the batch if the
// ledger has it (delivered twice) or a newer run owns the entity; compares
// row hashes with the target for the batch's key range; writes only new and
// changed rows; records target rows of the range that the batch lacks as
// pending deletes; and writes the ledger row, all or nothing.
func (t *Target) ApplyBatch(ctx context.Context, b *Batch, o ApplyOptions) (ApplyResult, error) {
	info, sh, err := t.prepare(ctx, b)
	if err != nil {
		return ApplyResult{}, err
	}
	var res ApplyResult
	load := true
	for {
		err = t.inTx(ctx, func(tx *tx) error {
			res = ApplyResult{}
			return t.applyInTx(ctx, tx, b, sh, info, o, load, &res)
		})
		if !errors.Is(err, errLoadRejected) || !load {
			break
		}
		load = false // the upsert says exactly what is wrong, or writes the rows
	}
	if err != nil {
		if errors.Is(err, errLedgerDup) {
			return ApplyResult{Skipped: SkipDuplicate}, nil // a twin delivery committed first
		}
		if failure.IsMissingObject(err) {
			t.forgetTable(b.Table) // dropped or changed under the run: the retry makes it again
		}
		return ApplyResult{}, fmt.Errorf("entity %s, batch %d, table %s: %w", b.Entity, b.Seq, b.Table, t.redact(err))
	}
	return res, nil
}

// shape is what the writer derives once per table shape: the columns'
// codecs and the key's positions.
type shape struct {
	cols      []schema.Column
	codecs    []mysqltype.Codec
	keyIdx    []int
	keyCols   []schema.Column
	keyCodecs []mysqltype.Codec
	hasher    func() *schema.Hasher
}

func (t *Target) shapeOf(s *schema.Table) (*shape, error) {
	fp := s.Fingerprint()
	if v, ok := t.shapes.Load(fp); ok {
		return v.(*shape), nil
	}
	codecs, err := mysqltype.Codecs(s.Columns)
	if err != nil {
		return nil, err
	}
	sh := &shape{cols: s.Columns, codecs: codecs, keyIdx: s.KeyIndexes()}
	for _, j := range sh.keyIdx {
		sh.keyCols = append(sh.keyCols, s.Columns[j])
		sh.keyCodecs = append(sh.keyCodecs, codecs[j])
	}
	cols := s.Columns
	sh.hasher = func() *schema.Hasher { return schema.NewHasher(cols) }
	t.shapes.Store(fp, sh)
	return sh, nil
}

// A batch delivered twice is found by its ledger row: the INSERT of the
// second delivery fails on the ledger's key (errLedgerDup), and its
// transaction, whatever it wrote, is rolled back. Asking the ledger first
// would cost every batch a statement for what happens rarely.
func (t *Target) applyInTx(ctx context.Context, tx *tx, b *Batch, sh *shape, info *tableInfo, o ApplyOptions, load bool, res *ApplyResult) error {
	cur, epoch, err := currentRunShared(ctx, tx, b.Pipeline, b.Entity)
	if err != nil {
		return err
	}
	if cur != b.Run || epoch != b.Epoch { // RegisterRun made it current unless a newer run is
		res.Skipped = SkipSuperseded
		return nil
	}

	// A verifying batch trusts no stored hash, the digest included.
	verify := b.Verify && !b.KeysOnly
	if b.Ranged && !b.KeysOnly && b.Digest != nil && !verify && t.tryDigest(b) {
		same, n, err := rangeMatches(ctx, tx, b, sh, info.order)
		if err != nil {
			return err
		}
		res.RangeRows += n
		t.digestResult(b, same)
		if same {
			res.Unchanged, res.DigestMatched = b.Digest.Count, true
			return writeLedger(ctx, tx, b, b.Digest.Count, res)
		}
	}
	if b.Bulk != nil && load {
		done, err := t.applyBulk(ctx, tx, b, sh, info, res)
		if err != nil {
			return err
		}
		if done {
			return writeLedger(ctx, tx, b, b.BulkRows, res)
		}
	}
	if err := b.loadRows(sh.codecs); err != nil {
		return err
	}
	sparse := b.Want != nil
	if sparse {
		if err := checkParts(b); err != nil {
			return err
		}
	}
	keyOf := func(r schema.Row) schema.Row {
		if b.KeysOnly {
			return r
		}
		k := make(schema.Row, len(sh.keyIdx))
		for i, j := range sh.keyIdx {
			k[i] = r[j]
		}
		return k
	}

	existing := map[string]targetRow{}
	var rangeKeys []string
	if b.Ranged {
		// A sparse batch holds every source row of its parts only.
		w := newRangeWhere(sh.keyCols, sh.keyCodecs, info.order)
		var cond string
		if sparse {
			cond = partsCond(w, b.Parts)
		} else {
			cond = w.rangeCond(b.Lo, b.Hi)
		}
		if w.err != nil {
			return w.err
		}
		if cond != "" {
			rangeKeys, err = readTargetRows(ctx, tx, b, sh, verify, cond, w.args, existing)
			if err != nil {
				return err
			}
		}
		res.RangeRows += len(rangeKeys)
	}

	batchKeys := make(map[string]bool, len(b.Rows))
	keyStrings := make([]string, len(b.Rows))
	var missing []schema.Row
	for i, r := range b.Rows {
		k := keyOf(r)
		ks := KeyString(k)
		keyStrings[i] = ks
		batchKeys[ks] = true
		if _, ok := existing[ks]; !ok {
			missing = append(missing, k)
		}
	}
	// Keys the range read did not find: new rows, or (for keys whose order
	// differs between source and MySQL, or unranged batches) rows outside
	// the range as MySQL orders it. Look those up by key. GUID keys read
	// through their order columns are in the source's order.
	if len(missing) > 0 && (!b.Ranged || !orderSafe(sh.keyCols, info.order)) {
		for start := 0; start < len(missing); start += lookupChunk {
			chunk := missing[start:min(start+lookupChunk, len(missing))]
			w := newWhere(sh.keyCols, sh.keyCodecs)
			cond := w.keysIn(chunk)
			if w.err != nil {
				return w.err
			}
			if _, err := readTargetRows(ctx, tx, b, sh, verify, cond, w.args, existing); err != nil {
				return err
			}
		}
	}

	if !b.KeysOnly {
		var write []schema.Row
		var hashes []uint64
		hasher := sh.hasher()
		for i, r := range b.Rows {
			h := hasher.Sum(r)
			cur, ok := existing[keyStrings[i]]
			if ok && cur.unchanged(h, verify) {
				res.Unchanged++
				continue
			}
			if ok && verify && cur.unchanged(h, false) {
				res.Repaired++ // its stored hash said unchanged; its values differ
			}
			write = append(write, r)
			hashes = append(hashes, h)
		}
		if load && !sparse && len(existing) == 0 && t.canLoad(info, sh, len(write)) {
			if res.Loaded, err = t.load(ctx, tx, b, sh, write, hashes); err != nil {
				return err
			}
		}
		if !res.Loaded {
			if err := t.upsert(ctx, tx, b, sh, write, hashes); err != nil {
				return err
			}
		}
		res.Written = len(write)
	} else if o.Fetch != nil {
		if err := t.fetchMissing(ctx, tx, b, sh, o.Fetch, keyStrings, existing, res); err != nil {
			return err
		}
	}

	if b.Ranged {
		var cands []string
		for _, ks := range rangeKeys {
			if !batchKeys[ks] && !existing[ks].deleted {
				cands = append(cands, ks)
			}
		}
		if err := addPending(ctx, tx, b, cands); err != nil {
			return err
		}
		res.Candidates = len(cands)
	}
	if sparse {
		if err := checkWant(ctx, tx, b, sh, info, o, res); err != nil {
			return err
		}
		return writeLedger(ctx, tx, b, len(b.Rows)+b.Unchanged, res)
	}
	return writeLedger(ctx, tx, b, len(b.Rows), res)
}

// fetchMissing completes a key-scan batch: keys the source has and the
// target lacks (or holds soft-deleted) are read from the source and written.
func (t *Target) fetchMissing(ctx context.Context, tx *tx, b *Batch, sh *shape, fetch Fetcher, keyStrings []string, existing map[string]targetRow, res *ApplyResult) error {
	var need []schema.Row
	for i, ks := range keyStrings {
		if cur, ok := existing[ks]; !ok || cur.deleted {
			need = append(need, b.Rows[i])
		}
	}
	if len(need) == 0 {
		return nil
	}
	rows, err := fetch(ctx, need)
	if err != nil {
		return fmt.Errorf("reading %d rows missing from the target from the source: %w", len(need), err)
	}
	hasher := sh.hasher()
	hashes := make([]uint64, len(rows))
	for i, r := range rows {
		if len(r) != len(sh.cols) {
			return fmt.Errorf("the source returned %d columns, the batch has %d: its schema changed during the run", len(r), len(sh.cols))
		}
		hashes[i] = hasher.Sum(r)
	}
	if err := t.upsert(ctx, tx, b, sh, rows, hashes); err != nil {
		return err
	}
	res.Written += len(rows)
	res.Fetched = len(rows)
	return nil
}

// writeLedger records the batch as applied, in its transaction.
func writeLedger(ctx context.Context, tx *tx, b *Batch, rows int, res *ApplyResult) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO _sisporta_ledger (pipeline, entity, run_id, seq, rows_in, rows_written, rows_unchanged, candidates, rows_repaired, applied_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))`, b.Pipeline, b.Entity, b.Run, b.Seq, rows, res.Written, res.Unchanged, res.Candidates, res.Repaired)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1062 {
		return errLedgerDup
	}
	return err
}

// rangeMatches asks MySQL for the digest of the batch's key range (row
// count, count of hashed rows, BIT_XOR and SUM of the hashes, soft-deleted
// rows) and compares it with the batch's: equal means every row of the
// range is the batch's and unchanged (odds of a false match: 2^-128).
func rangeMatches(ctx context.Context, tx *tx, b *Batch, sh *shape, order []string) (bool, int, error) {
	w := newRangeWhere(sh.keyCols, sh.keyCodecs, order)
	cond := w.rangeCond(b.Lo, b.Hi)
	if w.err != nil {
		return false, 0, w.err
	}
	h := quote(HashColumn)
	deleted := "0"
	if b.SoftDelete {
		deleted = "COALESCE(SUM(" + quote(DeletedColumn) + " IS NOT NULL), 0)"
	}
	q := "SELECT COUNT(*), COUNT(" + h + "), COALESCE(BIT_XOR(" + h + "), 0), COALESCE(SUM(" + h + "), 0), " + deleted +
		" FROM " + quoteTable(b.Table) + " WHERE " + cond
	var (
		n, hashed, softDeleted int64
		xor                    uint64
		sum                    string
	)
	if err := tx.QueryRowContext(ctx, q, w.args...).Scan(&n, &hashed, &xor, &sum, &softDeleted); err != nil {
		return false, 0, err
	}
	d := b.Digest
	return n == int64(d.Count) && hashed == n && softDeleted == 0 && xor == d.Xor && sum == d.Sum, int(n), nil
}

// errLedgerDup: another delivery of the batch committed while this one ran.
var errLedgerDup = errors.New("batch already in the ledger")

// readTargetRows reads key, stored hash (and soft-delete mark) of target
// rows matching cond into existing, returning their key strings. Values
// are read through the columns' codecs, so they are in canonical form.
// With full, every column is read and the row's actual hash recomputed
// from its values (a verifying batch).
func readTargetRows(ctx context.Context, tx *tx, b *Batch, sh *shape, full bool, cond string, args []any, existing map[string]targetRow) ([]string, error) {
	cols, codecs, keyPos := sh.keyCols, sh.keyCodecs, make([]int, len(sh.keyCols))
	for i := range keyPos {
		keyPos[i] = i
	}
	if full {
		cols, codecs, keyPos = sh.cols, sh.codecs, sh.keyIdx
	}
	q := targetRowsQuery(b.Table, cols, codecs, b.SoftDelete, cond)
	var (
		keys    []string
		scratch []byte
		hasher  *schema.Hasher
	)
	if full {
		hasher = sh.hasher()
	}
	row := make(schema.Row, len(cols))
	k := make(schema.Row, len(keyPos))
	bounds := make([]int, 0, len(cols)+1)
	err := tx.rawQuery(ctx, q, args, func(vals []driver.Value) error {
		scratch, bounds = scratch[:0], bounds[:0]
		for i := range cols {
			bounds = append(bounds, len(scratch))
			scratch = appendDriverValue(scratch, vals[i])
		}
		bounds = append(bounds, len(scratch))
		for i := range cols {
			if vals[i] == nil {
				row[i] = nil
				continue
			}
			v := scratch[bounds[i]:bounds[i+1]:bounds[i+1]]
			switch codecs[i].Kind {
			case schema.KindFloat:
				f, err := codecs[i].Canonical(v)
				if err != nil {
					return fmt.Errorf("column %s: %w", cols[i].Name, err)
				}
				v = f
			case schema.KindDecimal, schema.KindDateTime, schema.KindTime:
				v = fewerDigits(v, cols[i].Scale)
			}
			row[i] = v
		}
		for i, j := range keyPos {
			k[i] = row[j]
		}
		ks := KeyString(k)
		var tr targetRow
		tr.hash, tr.hasHash = uintValue(vals[len(cols)])
		if b.SoftDelete {
			d, _ := uintValue(vals[len(cols)+1])
			tr.deleted = d == 1
		}
		if full {
			tr.actual = hasher.Sum(row)
		}
		existing[ks] = tr
		keys = append(keys, ks)
		return nil
	})
	return keys, err
}

// targetRowsQuery selects, for the target rows matching cond, the given
// columns as canonical text, the stored row hash and, with softDelete,
// whether the row is soft-deleted: what readTargetRows and readKeyHashes
// read.
func targetRowsQuery(table string, cols []schema.Column, codecs []mysqltype.Codec, softDelete bool, cond string) string {
	sel := make([]string, 0, len(cols)+2)
	for i, c := range cols {
		sel = append(sel, codecs[i].Select(quote(c.Name)))
	}
	sel = append(sel, quote(HashColumn))
	if softDelete {
		sel = append(sel, quote(DeletedColumn)+" IS NOT NULL")
	}
	return "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteTable(table) + " WHERE " + cond
}

// fewerDigits reads a value of a target column wider than the source's
// (more decimals or fractional seconds, a table someone made) in the
// source's form, when the extra digits are zeros: 1.2300 is the source's
// 1.23. Otherwise the value is left as it is, and differs.
func fewerDigits(v []byte, scale int) []byte {
	dot := bytes.IndexByte(v, '.')
	if dot < 0 {
		return v
	}
	frac := len(v) - dot - 1
	if frac <= scale || strings.Trim(string(v[dot+1+scale:]), "0") != "" {
		return v
	}
	if scale == 0 {
		return v[:dot]
	}
	return v[:dot+1+scale]
}

// appendDriverValue renders a text-protocol value as its canonical bytes:
// the driver parses integers and floats (floats as the shortest text of
// their double, like every canonical float).
func appendDriverValue(b []byte, v driver.Value) []byte {
	switch x := v.(type) {
	case []byte:
		return append(b, x...)
	case string:
		return append(b, x...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case float32:
		return strconv.AppendFloat(b, float64(x), 'g', -1, 64)
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	}
	return b
}

// upsert writes rows with multi-row INSERT ... ON DUPLICATE KEY UPDATE,
// rendered as SQL text in statements of up to maxStmtBytes (and never more
// than the server's max_allowed_packet). A row whose text would not fit a
// packet (escaping can double a value: a 9 MB run of backslashes) is sent
// alone through a server-side prepared statement, whose binary protocol
// carries its bytes as they are. Key columns are updated too: a key the
// source changed to a spelling its collation calls equal ('abc' to 'ABC',
// 'x ' to 'x') finds the old row as a duplicate, and only updating the key
// carries the new spelling.
func (t *Target) upsert(ctx context.Context, tx *tx, b *Batch, sh *shape, rows []schema.Row, hashes []uint64) error {
	if len(rows) == 0 {
		return nil
	}
	cols := sh.cols
	names := make([]string, 0, len(cols)+1)
	updates := make([]string, 0, len(cols)+2)
	for _, c := range cols {
		names = append(names, quote(c.Name))
		updates = append(updates, quote(c.Name)+" = VALUES("+quote(c.Name)+")")
	}
	names = append(names, quote(HashColumn))
	updates = append(updates, quote(HashColumn)+" = VALUES("+quote(HashColumn)+")")
	if b.SoftDelete {
		updates = append(updates, quote(DeletedColumn)+" = NULL")
	}
	head := "INSERT INTO " + quoteTable(b.Table) + " (" + strings.Join(names, ", ") + ") VALUES "
	tail := " ON DUPLICATE KEY UPDATE " + strings.Join(updates, ", ")
	// The packet holds the statement plus a few bytes of protocol header.
	packet := t.maxPacket - 1024
	if packet <= 0 {
		packet = 1 << 20
	}
	budget := min(maxStmtBytes, packet) - len(head) - len(tail)
	rowBytes := func(r schema.Row) int {
		n := 4 + 20 // parentheses, separators, the hash
		for j, v := range r {
			n += sh.codecs[j].LiteralBytes(v) + 2
		}
		return n
	}

	var buf []byte
	for start := 0; start < len(rows); {
		if n := rowBytes(rows[start]); n > packet-len(head)-len(tail) {
			if err := t.upsertLarge(ctx, tx, b, sh, head, tail, rows[start], hashes[start], packet); err != nil {
				return err
			}
			start++
			continue
		}
		buf = append(buf[:0], head...)
		end, size := start, 0
		for end < len(rows) {
			n := rowBytes(rows[end])
			if end > start && (size+n > budget || n > packet-len(head)-len(tail)) {
				break
			}
			if end > start {
				buf = append(buf, ", "...)
			}
			buf = append(buf, '(')
			for j, v := range rows[end] {
				buf = sh.codecs[j].AppendLiteral(buf, v)
				buf = append(buf, ", "...)
			}
			buf = strconv.AppendUint(buf, hashes[end], 10)
			buf = append(buf, ')')
			size += n
			end++
		}
		buf = append(buf, tail...)
		if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
			return t.describeWriteError(err, b, sh, rows[start:end])
		}
		start = end
	}
	return nil
}

// upsertLarge writes one row through a prepared statement: its values
// travel unescaped. A row larger than a packet even so cannot be written
// at all: that is permanent, and says what to change.
func (t *Target) upsertLarge(ctx context.Context, tx *tx, b *Batch, sh *shape, head, tail string, r schema.Row, hash uint64, packet int) error {
	raw := 0
	ph := make([]string, len(r)+1)
	args := make([]any, 0, len(r)+1)
	for j, v := range r {
		raw += len(v) + 9 // value and its length prefix and type
		ph[j] = "?"
		args = append(args, sh.codecs[j].Param(v))
	}
	ph[len(r)] = "?"
	args = append(args, hash)
	if raw+len(head)+len(tail) > packet {
		return failure.Permanent(fmt.Errorf("the row with key %s takes %d bytes, more than the target's max_allowed_packet (%d bytes) allows in one statement: raise max_allowed_packet on the target server, or leave the widest columns out of the entity",
			describeKey(sh, r), raw, t.maxPacket))
	}
	stmt, err := tx.conn.PrepareContext(ctx, head+"("+strings.Join(ph, ", ")+")"+tail)
	if err != nil {
		return err
	}
	defer stmt.Close()
	if _, err := stmt.ExecContext(ctx, args...); err != nil {
		return t.describeWriteError(err, b, sh, []schema.Row{r})
	}
	return nil
}

// columnNote returns what EnsureTable noted about the column a MySQL
// message names ("... for column `db`.`t`.`c` at row 3", "... for column 'c'").
func (t *Target) columnNote(table, msg string) string {
	v, ok := t.notes.Load(table)
	if !ok {
		return ""
	}
	notes := v.(map[string]string)
	_, after, ok := strings.Cut(msg, "for column ")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(after, " at row")
	name = strings.Trim(name, "'`")
	if i := strings.LastIndex(name, "`.`"); i >= 0 {
		name = name[i+3:]
	}
	return notes[strings.ToLower(name)]
}

// describeKey shows a row's key in messages.
func describeKey(sh *shape, r schema.Row) string {
	key := make([]string, len(sh.keyIdx))
	for i, j := range sh.keyIdx {
		key[i] = sh.cols[j].Name + "=" + strconv.Quote(string(r[j]))
	}
	return strings.Join(key, ", ")
}

// valueRefused are MySQL errors about a value the target column cannot
// hold (strict mode refuses instead of truncating or substituting): the
// same batch fails the same way however often it is retried.
var valueRefused = map[uint16]bool{
	1048: true, // column cannot be null
	1264: true, // out of range value
	1265: true, // data truncated
	1292: true, // incorrect date/time value
	1366: true, // incorrect string/integer value (a character the column's character set lacks)
	1406: true, // data too long
}

// constraintRefused says what to do about a write the target's own rules
// refuse, whatever the values: no retry can make them pass. "" for other
// errors.
func constraintRefused(me *mysql.MySQLError, table string) string {
	switch me.Number {
	case 1364: // field has no default
		return fmt.Sprintf("target table %s has a NOT NULL column without a default that the entity does not write: let it take NULL or give it a default (ALTER TABLE %s MODIFY <column> <type> NULL), or map a source column to it", table, quoteTable(table))
	case 4025, 3819: // CHECK constraint (MariaDB, MySQL)
		return fmt.Sprintf("a CHECK constraint of target table %s refuses a row the source has: a mirror holds what its source holds, so drop the constraint (ALTER TABLE %s DROP CONSTRAINT <name>)", table, quoteTable(table))
	case 1451, 1452, 1216, 1217: // foreign keys
		return fmt.Sprintf("a foreign key on target table %s refuses the change: Sisporta writes and cleans each table on its own, batch by batch, so a foreign key between mirrored tables cannot hold at every moment; drop it (ALTER TABLE <child> DROP FOREIGN KEY <name>)", table)
	}
	return ""
}

// describeWriteError names the row MySQL refused, where its message gives
// the row number within the statement; a refused value is permanent.
func (t *Target) describeWriteError(err error, b *Batch, sh *shape, rows []schema.Row) error {
	var me *mysql.MySQLError
	if errors.Is(err, mysql.ErrPktTooLarge) || (errors.As(err, &me) && me.Number == 1153) {
		return failure.Permanent(fmt.Errorf("a statement was larger than the target's max_allowed_packet (%w): raise max_allowed_packet on the target server", err))
	}
	if me != nil {
		if why := constraintRefused(me, b.Table); why != "" {
			return failure.Permanent(fmt.Errorf("%s (nothing of the batch was written; then retry it with sisporta dlq retry): %w", why, err))
		}
	}
	if me == nil || !valueRefused[me.Number] {
		return err
	}
	fix := "widen the target column or fix the value in the source, then retry it with sisporta dlq retry"
	if note := t.columnNote(b.Table, me.Message); note != "" {
		fix = note + "; then retry the batch with sisporta dlq retry"
	}
	_, after, ok := strings.Cut(me.Message, " at row ")
	n, perr := strconv.Atoi(strings.TrimSpace(after))
	if !ok || perr != nil || n < 1 || n > len(rows) {
		return failure.Permanent(fmt.Errorf("the target refused a value (nothing of the batch was written; %s): %w", fix, err))
	}
	return failure.Permanent(fmt.Errorf("the row with key %s cannot be stored as it is (the target refused it; nothing of the batch was written; %s): %w", describeKey(sh, rows[n-1]), fix, err))
}

func addPending(ctx context.Context, tx *tx, b *Batch, keys []string) error {
	for start := 0; start < len(keys); start += lookupChunk {
		chunk := keys[start:min(start+lookupChunk, len(keys))]
		var sb strings.Builder
		args := make([]any, 0, len(chunk)*5)
		sb.WriteString("INSERT IGNORE INTO _sisporta_pending_deletes (pipeline, entity, run_id, key_hash, key_value) VALUES ")
		for i, ks := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?)")
			k, err := ParseKeyString(ks)
			if err != nil {
				return err
			}
			args = append(args, b.Pipeline, b.Entity, b.Run, keyHash(k), []byte(ks))
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// digestEvery is how often an entity whose ranges keep differing from
// their digests is still given the digest check: when most ranges change,
// the check is a second range read for nothing.
const digestEvery = 8

func (t *Target) digestMisses(b *Batch) *atomic.Int32 {
	v, _ := t.misses.LoadOrStore(b.Pipeline+"\x00"+b.Entity, new(atomic.Int32))
	return v.(*atomic.Int32)
}

// tryDigest says whether to compare this batch's digest: always while
// digests match, every digestEvery-th batch while they do not.
func (t *Target) tryDigest(b *Batch) bool {
	m := t.digestMisses(b)
	n := m.Load()
	if n == 0 || n%digestEvery == 0 {
		return true
	}
	m.Add(1)
	return false
}

func (t *Target) digestResult(b *Batch, matched bool) {
	if matched {
		t.digestMisses(b).Store(0)
	} else {
		t.digestMisses(b).Add(1)
	}
}

// prepare readies the target for a batch of an entity: state tables, the
// table in the batch's shape, and the batch's run registered. The source
// is checked first: the state tables would otherwise go into the source's
// database if the target were it.
func (t *Target) prepare(ctx context.Context, b *Batch) (*tableInfo, *shape, error) {
	if err := t.CheckNotTheSource(ctx, "", b.SourceLocation); err != nil {
		return nil, nil, err
	}
	if err := t.ensureReady(ctx); err != nil {
		return nil, nil, err
	}
	info, err := t.ensureTable(ctx, TableSpec{Table: b.Table, Schema: &b.Schema, SoftDelete: b.SoftDelete,
		Pipeline: b.Pipeline, Entity: b.Entity, TakeOverFrom: b.TakeOverFrom, SourceLocation: b.SourceLocation})
	if err != nil {
		return nil, nil, err
	}
	sh, err := t.shapeOf(&b.Schema)
	if err != nil {
		return nil, nil, fmt.Errorf("entity %s, table %s: %w", b.Entity, b.Table, err)
	}
	if err := t.RegisterRun(ctx, b.Pipeline, b.Entity, b.Epoch, b.Run); err != nil {
		return nil, nil, err
	}
	return info, sh, nil
}
