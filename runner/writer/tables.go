package writer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sisporta/sisporta/runner/failure"
	"github.com/sisporta/sisporta/runner/mysqlconn"
	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
)

// TableSpec is a target table as an entity's batches need it.
type TableSpec struct {
	Table      string
	Schema     *schema.Table
	SoftDelete bool
	// Pipeline and Entity claim the table: one entity of one pipeline owns
	// a target table (two would delete each other's rows).
	Pipeline, Entity string
	// TakeOverFrom names the owner ("<namespace>/<pipeline>/<entity>")
	// this entity may replace.
	TakeOverFrom string
	// SourceLocation is where the source reads (mysqlconn.Location).
	SourceLocation string
}

// owner is how an entity is named as a table's owner.
func (s TableSpec) owner() string { return s.Pipeline + "/" + s.Entity }

// ddlLockWait bounds how long a schema change waits for the table's
// metadata lock (MySQL's default is a year: an ALTER queued behind a
// frozen transaction would block every later statement on the table).
const ddlLockWait = 30

// EnsureTable creates the target table from the source schema when it is
// missing, adds columns that appeared in the source since (nullable, so
// existing rows stay valid), adds Sisporta's columns, and never drops or
// changes anything but the columns of a table it created that must widen
// (see fitColumns). Text columns get the collation their source
// comparison asks for (withCollations); GUID keys the source orders by
// their bytes get an order column and index (order.go). An existing
// table's key columns must compare keys as the source does (type and
// collation), else it is refused. The table is claimed for the entity
// (see TableSpec). The schema is read without any
// lock; a DDL statement runs only when something is missing, with a
// bounded wait, and a concurrent worker's identical change is taken as
// done. Each process checks a shape once.
func (t *Target) EnsureTable(ctx context.Context, s TableSpec) error {
	_, err := t.ensureTable(ctx, s)
	return err
}

// tableInfo is what EnsureTable learnt of a table that batches use.
type tableInfo struct {
	// created: Sisporta made the table, so its columns are the schema's
	// types (widened at most).
	created bool
	// order names, per key column in key order, the column that holds the
	// key's values in the source's order ("" where MySQL's order is used).
	order []string
	// askUntil, for a table not (yet) known as Sisporta's: until then each
	// batch asks again. The worker that made the table claims it a moment
	// after making it, and another worker (or pod) that found the table
	// made in that moment must not take it for someone else's for good:
	// it would never load into it in bulk.
	askUntil time.Time
}

// createdRecheck is how long a table not known as Sisporta's is asked
// about again before the answer is kept.
const createdRecheck = time.Minute

func (t *Target) ensureTable(ctx context.Context, s TableSpec) (*tableInfo, error) {
	cacheKey := s.Table + "\x00" + s.Schema.Fingerprint() + fmt.Sprint(s.SoftDelete) + "\x00" + s.owner()
	if info, ok := t.cachedTable(ctx, s, cacheKey); ok {
		return info, nil
	}
	// One check a table at a time in this process: the batches that
	// arrive together wait for the first one's answer instead of racing
	// it to make the table.
	mu, _ := t.ensuring.LoadOrStore(cacheKey, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if info, ok := t.cachedTable(ctx, s, cacheKey); ok {
		return info, nil
	}
	if err := t.checkNotTheSource(ctx, s); err != nil {
		return nil, err
	}
	// One concrete definition per column for everything below: the
	// collation a text column's Compare asks for, as this server has it.
	sch, err := t.withCollations(ctx, s.Schema)
	if err != nil {
		return nil, t.redact(err)
	}
	created, err := t.createdBySisporta(ctx, s.Table)
	if err != nil {
		return nil, t.redact(err)
	}
	order := orderColumns(sch)
	for attempt := 0; ; attempt++ {
		existing, err := t.tableColumns(ctx, s.Table)
		if err != nil {
			return nil, t.redact(err)
		}
		var ddl []string
		if len(existing) == 0 {
			ddl = createTable(s.Table, sch, s.SoftDelete)
		} else {
			widen, notes, err := fitColumns(s.Table, sch, existing, created)
			if err != nil {
				return nil, err
			}
			t.notes.Store(s.Table, notes)
			if len(widen) == 0 {
				if err := t.checkKeyColumns(ctx, s.Table, sch, existing); err != nil {
					return nil, err
				}
			}
			ordered, err := t.orderDDL(ctx, s.Table, sch, order, existing)
			if err != nil {
				return nil, err
			}
			ddl = append(widen, extendTable(s.Table, sch, s.SoftDelete, existing, ordered)...)
			relax, err := releaseDropped(s.Table, sch, existing, created)
			if err != nil {
				return nil, err
			}
			ddl = append(ddl, relax...)
		}
		if len(ddl) == 0 {
			break
		}
		err = t.runDDL(ctx, ddl)
		if err == nil {
			created = created || len(existing) == 0
			continue // read the result back
		}
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1050 || me.Number == 1060 || me.Number == 1061) && attempt < 3 {
			continue // another worker made the same change first
		}
		what := "changing"
		if len(existing) == 0 {
			what = "creating"
		}
		err = fmt.Errorf("%s target table %s (%s): %w", what, s.Table, strings.Join(ddl, "; "), t.redact(err))
		if errors.As(err, &me) && me.Number != 1205 && me.Number != 1213 {
			err = failure.Permanent(err) // a definition the server refuses stays refused
		}
		return nil, err
	}
	if err := t.checkUniqueKey(ctx, s.Table, s.Schema); err != nil {
		return nil, err
	}
	if err := t.claim(ctx, s, created); err != nil {
		return nil, err
	}
	if !created { // the batch that made the table may have claimed it since
		if created, err = t.createdBySisporta(ctx, s.Table); err != nil {
			return nil, t.redact(err)
		}
	}
	info := &tableInfo{order: order, created: created}
	if !created {
		// The worker that made the table may not have claimed it yet.
		info.askUntil = time.Now().Add(createdRecheck)
	}
	t.ensured.Store(cacheKey, info)
	return info, nil
}

// cachedTable returns what this process learnt of the table's shape, and
// whether it did; a table not known as Sisporta's is asked about again
// until its askUntil.
func (t *Target) cachedTable(ctx context.Context, s TableSpec, cacheKey string) (*tableInfo, bool) {
	v, ok := t.ensured.Load(cacheKey)
	if !ok {
		return nil, false
	}
	info := v.(*tableInfo)
	if info.created || info.askUntil.IsZero() || time.Now().After(info.askUntil) {
		return info, true
	}
	created, err := t.createdBySisporta(ctx, s.Table)
	if err != nil || !created {
		return info, true // asked again next batch, until askUntil
	}
	fresh := &tableInfo{order: info.order, created: true}
	t.ensured.CompareAndSwap(cacheKey, info, fresh)
	return fresh, true
}

// checkNotTheSource refuses a target table in the database the source
// reads, on the same server: the mirror would alter, rewrite and clean up
// the very tables Sisporta promises only to read (one DSN in both
// Secrets, or a target.table qualified with the source's database).
func (t *Target) checkNotTheSource(ctx context.Context, s TableSpec) error {
	return t.CheckNotTheSource(ctx, s.Table, s.SourceLocation)
}

// CheckNotTheSource refuses a target table (or, for table "", the target
// database itself: Sisporta's state tables go there) in the database the
// source reads on the same server. It touches nothing in the target, so
// it runs before the state tables are created.
func (t *Target) CheckNotTheSource(ctx context.Context, table, sourceLocation string) error {
	if sourceLocation == "" {
		return nil
	}
	loc, ok := t.location.Load().(string)
	if !ok {
		var err error
		if loc, err = mysqlconn.Location(ctx, t.db); err != nil {
			return t.redact(err)
		}
		t.location.Store(loc)
	}
	srcServer, srcDB, _ := strings.Cut(sourceLocation, "|")
	server, db, _ := strings.Cut(loc, "|")
	if d, _ := splitTable(table); d != nil {
		db = d.(string)
	}
	if server != srcServer || db != srcDB {
		return nil
	}
	what := "the target database " + quote(db) + " is"
	if table != "" {
		what = "target table " + table + " is in " + quote(db) + ","
	}
	return failure.Permanent(fmt.Errorf("%s the database the source reads, on the same server: Sisporta would change the tables it only reads. Point the target DSN (and target.table) at another database", what))
}

// forgetTable drops what this process knows of a table's shape, so the
// next batch checks (and creates) it again.
func (t *Target) forgetTable(table string) {
	t.ensured.Range(func(k, _ any) bool {
		if strings.HasPrefix(k.(string), table+"\x00") {
			t.ensured.Delete(k)
		}
		return true
	})
}

// owners returns the owners table for a target table: the one in the
// database that holds it (created there when missing), so that pipelines
// whose target DSNs name different databases still find one owner.
func (t *Target) owners(ctx context.Context, table string) (string, error) {
	db, _ := splitTable(table)
	if db == nil {
		return "_sisporta_tables", nil
	}
	name := quote(db.(string)) + "._sisporta_tables"
	if _, ok := t.ownerTables.Load(name); ok {
		return name, nil
	}
	if _, err := t.db.ExecContext(ctx, ownersDDL(name)); err != nil {
		return "", t.stateError("creating Sisporta's table of owners in "+quote(db.(string))+" (next to the target table)", err)
	}
	t.ownerTables.Store(name, true)
	return name, nil
}

// createdBySisporta reports whether Sisporta created the table (it then
// follows the source's columns as they widen).
func (t *Target) createdBySisporta(ctx context.Context, table string) (bool, error) {
	dbName, name := splitTable(table)
	owners, err := t.owners(ctx, table)
	if err != nil {
		return false, err
	}
	var created bool
	err = t.db.QueryRowContext(ctx, `SELECT created_by_sisporta FROM `+owners+` WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?`,
		dbName, name).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return created, err
}

// fitColumns compares the table's columns with the source's and returns
// the ALTERs that let a table Sisporta created hold what its source
// columns hold now (VARCHAR(20) to VARCHAR(200), INT to BIGINT, DECIMAL
// (10,2) to (12,4), DATETIME to DATETIME(3)): a column is changed only
// when its new type holds every value of its old one. A column that would
// change values without an error (round them, pad or trim them) and that
// Sisporta cannot widen is refused: the mirror would differ silently. A
// column that would refuse some values (too narrow) is kept, with a note
// that the error of a refused value then quotes. A key column of a table
// Sisporta created whose collation tells apart less than its source
// compares gets the collation the source asks for (finerKeyCollation).
func fitColumns(table string, s *schema.Table, existing map[string]columnInfo, created bool) ([]string, map[string]string, error) {
	var mods []string
	notes := map[string]string{}
	for _, c := range s.Columns {
		have, ok := existing[strings.ToLower(c.Name)]
		if !ok || (c.Key > 0 && !created) {
			continue // key columns of a table someone made: checkKeyColumns
		}
		want, err1 := mysqltype.Parse(c.Type)
		got, err2 := mysqltype.Parse(have.def())
		if err1 != nil || err2 != nil {
			continue
		}
		holding := mysqltype.HoldsValues(want, c.Kind, got)
		finer := created && finerKeyCollation(c, want, have)
		if holding == mysqltype.Holds && !finer {
			continue // a non-key column is never changed just for its collation
		}
		null := " NULL"
		if c.Key > 0 || !c.Nullable {
			null = " NOT NULL"
		}
		alter := fmt.Sprintf("ALTER TABLE %s MODIFY %s %s", quoteTable(table), quote(c.Name), c.Type)
		switch {
		case created && mysqltype.HoldsValues(got, c.Kind, want) == mysqltype.Holds:
			mods = append(mods, "MODIFY "+quote(c.Name)+" "+c.Type+null)
		case finer && holding == mysqltype.Holds:
			// Wider than the source's: keep the width, change the collation.
			mods = append(mods, "MODIFY "+quote(c.Name)+" "+have.Type+" CHARACTER SET "+want.Charset+" COLLATE "+want.Collation+null)
		case holding == mysqltype.Alters:
			why := "Sisporta changes only tables it created"
			if created {
				why = "Sisporta only widens columns, and this is not a widening"
			}
			return nil, nil, failure.Permanent(fmt.Errorf("target table %s: column %s is %s, the source's is %s: the target would change values without an error (round, pad, trim or convert them), and %s. Change the column (%s), leave it out of the entity, or drop the table and let Sisporta create it",
				table, c.Name, have.def(), c.Type, why, alter))
		case created:
			notes[strings.ToLower(c.Name)] = fmt.Sprintf("column %s is %s in the target and %s in the source now, a change Sisporta does not make by itself (it only widens): change the column (%s) or leave it out of the entity",
				c.Name, have.def(), c.Type, alter)
		default:
			notes[strings.ToLower(c.Name)] = fmt.Sprintf("column %s is %s in the target and %s in the source, and Sisporta changes only tables it created: widen it (%s)",
				c.Name, have.def(), c.Type, alter)
		}
	}
	if len(mods) == 0 {
		return nil, notes, nil
	}
	return []string{"ALTER TABLE " + quoteTable(table) + " " + strings.Join(mods, ", ")}, notes, nil
}

// releaseDropped lets the columns of a table Sisporta made that the
// entity no longer writes (the source dropped them, or columns leaves them
// out) take NULL: rows written from now on have no value for them, and a
// NOT NULL column without a default would refuse every one. Sisporta
// never drops a column (its values stay for whoever reads them). In a
// table someone else made, such a column is refused with what to do.
func releaseDropped(table string, s *schema.Table, existing map[string]columnInfo, created bool) ([]string, error) {
	written := map[string]bool{}
	for _, c := range s.Columns {
		written[strings.ToLower(c.Name)] = true
	}
	var mods, names []string
	for key, c := range existing {
		if written[key] || !c.Required || strings.HasPrefix(key, "_sisporta_") {
			continue
		}
		mods = append(mods, "MODIFY "+quote(c.Name)+" "+c.def()+" NULL")
		names = append(names, c.Name)
	}
	if len(mods) == 0 {
		return nil, nil
	}
	sort.Strings(mods)
	sort.Strings(names)
	if !created {
		return nil, failure.Permanent(fmt.Errorf("target table %s has columns the entity does not write that are NOT NULL without a default (%s): every new row would be refused. Let them take NULL or give them a default (ALTER TABLE %s %s), or map source columns to them",
			table, strings.Join(names, ", "), quoteTable(table), strings.Join(mods, ", ")))
	}
	return []string{"ALTER TABLE " + quoteTable(table) + " " + strings.Join(mods, ", ")}, nil
}

// runDDL runs schema statements on one connection whose metadata-lock
// wait is bounded; the first form of each is tried without INVISIBLE when
// the server does not know it (MySQL < 8.0.23).
func (t *Target) runDDL(ctx context.Context, stmts []string) error {
	conn, err := t.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", ddlLockWait)); err != nil {
		return err
	}
	for _, stmt := range stmts {
		_, err := conn.ExecContext(ctx, stmt)
		if isSyntaxError(err) && strings.Contains(stmt, " INVISIBLE") {
			_, err = conn.ExecContext(ctx, strings.ReplaceAll(stmt, " INVISIBLE", ""))
		}
		if err != nil {
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1205 {
				return fmt.Errorf("%w (waited %ds for the table's metadata lock: a long transaction or a frozen process holds it; the batch will be retried)", err, ddlLockWait)
			}
			return err
		}
	}
	return nil
}

// columnInfo is a target column as information_schema describes it.
type columnInfo struct {
	Name, Type, Charset, Collation string
	// Generated is a generated column's expression.
	Generated string
	// Required: NOT NULL, without a default, not generated nor
	// auto-increment: an insert must give it a value.
	Required bool
}

// def is the column's definition in Sisporta's form.
func (c columnInfo) def() string {
	d := c.Type
	if c.Charset != "" && c.Collation != "" {
		d += " CHARACTER SET " + c.Charset + " COLLATE " + c.Collation
	}
	return d
}

func (t *Target) tableColumns(ctx context.Context, table string) (map[string]columnInfo, error) {
	dbName, name := splitTable(table)
	rows, err := t.db.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, ''), COALESCE(GENERATION_EXPRESSION, ''),
  IS_NULLABLE = 'NO' AND COLUMN_DEFAULT IS NULL AND EXTRA NOT LIKE '%GENERATED%' AND EXTRA NOT LIKE '%auto_increment%'
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`, dbName, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := map[string]columnInfo{}
	for rows.Next() {
		var c columnInfo
		if err := rows.Scan(&c.Name, &c.Type, &c.Charset, &c.Collation, &c.Generated, &c.Required); err != nil {
			return nil, err
		}
		cols[strings.ToLower(c.Name)] = c
	}
	return cols, rows.Err()
}

func splitTable(table string) (dbName any, name string) {
	if d, n, ok := strings.Cut(table, "."); ok {
		return d, n
	}
	return nil, table
}

func createTable(table string, s *schema.Table, softDelete bool) []string {
	var defs []string
	for _, c := range s.Columns {
		null := " NULL"
		if !c.Nullable || c.Key > 0 {
			null = " NOT NULL"
		}
		defs = append(defs, quote(c.Name)+" "+c.Type+null)
	}
	var keys []string
	for _, c := range s.KeyColumns() {
		keys = append(keys, quote(c.Name))
	}
	defs = append(defs, quote(HashColumn)+" BIGINT UNSIGNED NULL INVISIBLE")
	if softDelete {
		defs = append(defs, quote(DeletedColumn)+" DATETIME(6) NULL")
	}
	order := orderColumns(s)
	for i, c := range s.KeyColumns() {
		if order != nil && order[i] != "" {
			defs = append(defs, orderColumnDef(i+1, c.Name))
		}
	}
	defs = append(defs, "PRIMARY KEY ("+strings.Join(keys, ", ")+")")
	if order != nil {
		defs = append(defs, orderIndexDef(s, order))
	}
	return []string{"CREATE TABLE " + quoteTable(table) + " (\n  " + strings.Join(defs, ",\n  ") + "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"}
}

// extendTable adds what an existing table lacks: source columns, Sisporta's
// columns, and the order clauses orderDDL found missing.
func extendTable(table string, s *schema.Table, softDelete bool, existing map[string]columnInfo, ordered []string) []string {
	var adds []string
	for _, c := range s.Columns {
		if _, ok := existing[strings.ToLower(c.Name)]; !ok {
			adds = append(adds, "ADD COLUMN "+quote(c.Name)+" "+c.Type+" NULL")
		}
	}
	if _, ok := existing[HashColumn]; !ok {
		adds = append(adds, "ADD COLUMN "+quote(HashColumn)+" BIGINT UNSIGNED NULL INVISIBLE")
	}
	if _, ok := existing[DeletedColumn]; softDelete && !ok {
		adds = append(adds, "ADD COLUMN "+quote(DeletedColumn)+" DATETIME(6) NULL")
	}
	adds = append(adds, ordered...)
	if len(adds) == 0 {
		return nil
	}
	return []string{"ALTER TABLE " + quoteTable(table) + " " + strings.Join(adds, ", ")}
}

// checkKeyColumns refuses an existing table whose key columns would
// compare keys differently from the source: a case-insensitive collation
// for a case-sensitive source key merges rows the source tells apart, a
// narrower type or fewer fractional digits merges or rewrites them. A
// text key whose source says how it compares (Compare) may have any
// collation that tells apart at least as much.
func (t *Target) checkKeyColumns(ctx context.Context, table string, s *schema.Table, existing map[string]columnInfo) error {
	for _, c := range s.KeyColumns() {
		have, ok := existing[strings.ToLower(c.Name)]
		if !ok {
			continue // added, then refused by checkUniqueKey
		}
		want, err := mysqltype.Parse(c.Type)
		if err != nil {
			return err
		}
		got, err := mysqltype.Parse(have.def())
		if err != nil {
			return err
		}
		text := c.Kind == schema.KindString || c.Kind == schema.KindUUID
		def := ""
		if want.Collation == "" && text && have.Collation != "" && c.Compare == "" {
			if def, err = t.defaultCollation(ctx); err != nil {
				return t.redact(err)
			}
		}
		why := mysqltype.KeyMismatch(want, c.Kind, got, def)
		if text && c.Compare != "" {
			why = mysqltype.KeyMismatchAtLeast(want, c.Kind, got, c.Compare)
		}
		if why != "" {
			wantDef := c.Type
			if def != "" {
				wantDef += " COLLATE " + def
			}
			return failure.Permanent(fmt.Errorf("target table %s: key column %s is %s, the source's is %s: %s. Make the target column match (ALTER TABLE %s MODIFY %s %s NOT NULL), or drop the table and let Sisporta create it",
				table, c.Name, have.def(), wantDef, why, quoteTable(table), quote(c.Name), wantDef))
		}
	}
	return nil
}

// defaultCollation is the collation a utf8mb4 column gets in a table
// Sisporta creates (DEFAULT CHARSET=utf8mb4 without COLLATE).
func (t *Target) defaultCollation(ctx context.Context) (string, error) {
	if v, ok := t.collation.Load().(string); ok {
		return v, nil
	}
	var c string
	if err := t.db.QueryRowContext(ctx, "SELECT COLLATION(CONVERT('' USING utf8mb4))").Scan(&c); err != nil {
		return "", err
	}
	t.collation.Store(c)
	return c, nil
}

// checkUniqueKey makes sure a table has a primary key or unique index on
// exactly the key columns, whole (not a prefix of them), which upserts rely
// on, and no other unique index that leaves a key column out or takes only
// its prefix: an upsert hitting such an index overwrites another row (two
// source rows with one email, keys 'abcd' and 'abce' under a 3-character
// prefix), and the mirror flips between them run after run.
func (t *Target) checkUniqueKey(ctx context.Context, table string, s *schema.Table) error {
	dbName, name := splitTable(table)
	rows, err := t.db.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME, SUB_PART IS NOT NULL FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`, dbName, name)
	if err != nil {
		return t.redact(err)
	}
	defer rows.Close()
	type index struct {
		cols   []string
		prefix map[string]bool
	}
	indexes := map[string]*index{}
	var names []string
	for rows.Next() {
		var (
			idx, col string
			prefix   bool
		)
		if err := rows.Scan(&idx, &col, &prefix); err != nil {
			return t.redact(err)
		}
		if indexes[idx] == nil {
			indexes[idx] = &index{prefix: map[string]bool{}}
			names = append(names, idx)
		}
		col = strings.ToLower(col)
		indexes[idx].cols = append(indexes[idx].cols, col)
		indexes[idx].prefix[col] = prefix
	}
	if err := rows.Err(); err != nil {
		return t.redact(err)
	}
	var want []string
	for _, c := range s.KeyColumns() {
		want = append(want, strings.ToLower(c.Name))
	}
	sort.Strings(want)
	found := false
	for _, n := range names {
		ix := indexes[n]
		for _, k := range want {
			if !slices.Contains(ix.cols, k) || ix.prefix[k] {
				return failure.Permanent(fmt.Errorf("target table %s has a unique index %s on (%s) that does not hold the whole key (%s): an upsert of a row it finds there would overwrite another row, and the mirror would merge rows. Drop the index (or make it cover the whole key columns), or drop the table and let Sisporta create it",
					table, n, strings.Join(ix.cols, ", "), strings.Join(want, ", ")))
			}
		}
		sorted := append([]string(nil), ix.cols...)
		sort.Strings(sorted)
		found = found || strings.Join(sorted, ",") == strings.Join(want, ",")
	}
	if !found {
		return failure.Permanent(fmt.Errorf("target table %s has no primary key or unique index on (%s): add one, or drop the table and let Sisporta create it", table, strings.Join(want, ", ")))
	}
	return nil
}

// claim records the entity as the table's owner, or refuses when another
// entity owns it and is not the one TakeOverFrom names.
func (t *Target) claim(ctx context.Context, s TableSpec, created bool) error {
	dbName, name := splitTable(s.Table)
	owners, err := t.owners(ctx, s.Table)
	if err != nil {
		return err
	}
	return t.inTx(ctx, func(x *tx) error {
		var schemaName string
		if err := x.QueryRowContext(ctx, "SELECT COALESCE(?, DATABASE())", dbName).Scan(&schemaName); err != nil {
			return err
		}
		// The first to claim a free table wins; concurrent claims of the
		// same entity's batches are then its own.
		if _, err := x.ExecContext(ctx, `INSERT IGNORE INTO `+owners+` (table_schema, table_name, pipeline, entity, created_by_sisporta, since)
VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))`, schemaName, name, s.Pipeline, s.Entity, created); err != nil {
			return err
		}
		var pipeline, entity, since string
		if err := x.QueryRowContext(ctx, `SELECT pipeline, entity, DATE_FORMAT(since, '%Y-%m-%d %H:%i:%s UTC') FROM `+owners+`
WHERE table_schema = ? AND table_name = ? FOR UPDATE`, schemaName, name).Scan(&pipeline, &entity, &since); err != nil {
			return err
		}
		owner := pipeline + "/" + entity
		if owner == s.owner() {
			if created {
				// Another batch of the entity, which found the table this
				// one had just made, may have claimed it first as made by
				// someone else.
				_, err := x.ExecContext(ctx, `UPDATE `+owners+` SET created_by_sisporta = 1 WHERE table_schema = ? AND table_name = ?`, schemaName, name)
				return err
			}
			return nil
		}
		if s.TakeOverFrom != "" && s.TakeOverFrom == owner {
			_, err := x.ExecContext(ctx, `UPDATE `+owners+` SET pipeline = ?, entity = ?, since = UTC_TIMESTAMP(6) WHERE table_schema = ? AND table_name = ?`,
				s.Pipeline, s.Entity, schemaName, name)
			return err
		}
		return failure.Permanent(fmt.Errorf("target table %s.%s is mirrored by %s since %s: two pipelines writing one table would delete each other's rows. Point this entity at another target table, or, if %s no longer writes it, set target.takeOverFrom: %q in this entity",
			schemaName, name, owner, since, owner, owner))
	})
}

// CheckOwner makes sure the entity still owns its target table before its
// cleanup deletes anything (another pipeline may have taken it over).
func (t *Target) CheckOwner(ctx context.Context, table, pipeline, entity string) error {
	dbName, name := splitTable(table)
	owners, err := t.owners(ctx, table)
	if err != nil {
		return err
	}
	var owner string
	err = t.db.QueryRowContext(ctx, `SELECT CONCAT(pipeline, '/', entity) FROM `+owners+` WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?`,
		dbName, name).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // claimed by the first batch; none applied (nothing to clean either)
	}
	if err != nil {
		return t.redact(err)
	}
	if owner != pipeline+"/"+entity {
		return failure.Permanent(fmt.Errorf("target table %s is now mirrored by %s: this run of %s/%s deletes nothing there", table, owner, pipeline, entity))
	}
	return nil
}

func isSyntaxError(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1064
}
