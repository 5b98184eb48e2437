package localsync_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/test/testenv"
)

const awkwardPipeline = `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: awkward}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: 7
  entities:
  - name: dealers
    source: {table: dealers}
    target: {table: dealers}
  - name: orders
    source: {table: order}
    target: {table: order}
  - name: products
    source: {table: products, where: "active = 1"}
    target: {table: catalog}
    columns: [{source: code, target: id}, {source: descr, target: name}, {source: price}]
`

// seedAwkward fills a source with the data that breaks naive mirrors.
func seedAwkward(t *testing.T, e *env) {
	e.src.Exec(t,
		"CREATE TABLE dealers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, note VARCHAR(50) NULL, credit DECIMAL(14,4), since DATETIME(6), logo VARBINARY(64), active TINYINT(1), ratio DOUBLE, born DATE, opens TIME(3))",
		"CREATE TABLE `order` (dealer_id INT, `line` VARCHAR(10), `select` INT, amount DECIMAL(10,2), PRIMARY KEY (dealer_id, `line`))",
		"CREATE TABLE products (code VARCHAR(20) PRIMARY KEY, descr TEXT, price DECIMAL(9,3), active TINYINT(1) NOT NULL)")
	var vals []string
	names := []string{"Portões Açoriano", "Garagem 🚪🔑 Ltda", "Ünïcödé Straße", "O'Brien \"Doors\"", `back\slash`, "tab\there", "", "日本のドア"}
	for i := 1; i <= 40; i++ {
		note := "NULL"
		switch i % 3 {
		case 0:
			note = "''"
		case 1:
			note = fmt.Sprintf("'note %d'", i)
		}
		logo := "NULL"
		if i%4 != 0 {
			logo = fmt.Sprintf("0x00FF%02X0A0D", i)
		}
		vals = append(vals, fmt.Sprintf("(%d, %s, %s, %s, '2024-02-%02d 10:11:12.%06d', %s, %d, %s, '1990-01-%02d', '08:30:00.%03d')",
			i, quoteSQL(names[i%len(names)]), note, fmt.Sprintf("%d.%04d", i*1000, i), 1+i%28, i*1111, logo, i%2, fmt.Sprintf("%d.1e-3", i), 1+i%28, i))
	}
	e.src.Exec(t, "INSERT INTO dealers VALUES "+strings.Join(vals, ","))
	vals = vals[:0]
	for d := 1; d <= 6; d++ {
		for _, l := range []string{"a", "B", "c", "10", "9", "Z"} {
			vals = append(vals, fmt.Sprintf("(%d, '%s', %d, %d.5)", d, l, d*10, d))
		}
	}
	e.src.Exec(t, "INSERT INTO `order` VALUES "+strings.Join(vals, ","))
	vals = vals[:0]
	for i := 1; i <= 25; i++ {
		active := 1
		if i%5 == 0 {
			active = 0
		}
		vals = append(vals, fmt.Sprintf("('P-%03d', 'Portão modelo %d 🚗', %d.125, %d)", i, i, i, active))
	}
	e.src.Exec(t, "INSERT INTO products VALUES "+strings.Join(vals, ","))
}

func quoteSQL(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

const (
	dealersCols = "id, name, note, credit, since, HEX(logo), active, ratio, born, opens"
	ordersCols  = "dealer_id, `line`, `select`, amount"
)

func checkAwkwardMirror(t *testing.T, e *env) {
	t.Helper()
	sameRows(t, e, "SELECT "+dealersCols+" FROM dealers", "SELECT "+dealersCols+" FROM dealers")
	sameRows(t, e, "SELECT "+ordersCols+" FROM `order`", "SELECT "+ordersCols+" FROM `order`")
	sameRows(t, e, "SELECT code, descr, price FROM products WHERE active = 1", "SELECT id, name, price FROM catalog")
}

func TestMirrorOfAwkwardDataAndNoOpResync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedAwkward(t, e)
	p := testenv.Pipeline(t, awkwardPipeline)

	first := e.sync(t, p)
	mustSucceed(t, first)
	checkAwkwardMirror(t, e)
	if got := entity(t, first, "products"); got.RowsRead != 20 || got.RowsWritten != 20 {
		t.Errorf("products: read %d written %d, want 20 and 20 (the where filter keeps 20 of 25)", got.RowsRead, got.RowsWritten)
	}
	// NULL and '' stay apart, exactly.
	if n := e.dst.Count(t, "dealers", "note IS NULL"); n != e.src.Count(t, "dealers", "note IS NULL") || n == 0 {
		t.Errorf("NULL notes: target %d", n)
	}
	if n := e.dst.Count(t, "dealers", "note = ''"); n != e.src.Count(t, "dealers", "note = ''") || n == 0 {
		t.Errorf("empty notes: target %d", n)
	}

	// A no-op resync writes nothing: triggers on the target count every write.
	writes := map[string]func() int64{}
	for _, tbl := range []string{"dealers", "order", "catalog"} {
		writes[tbl] = countWrites(t, e.dst, tbl)
	}
	second := e.sync(t, p)
	mustSucceed(t, second)
	if second.RowsWritten != 0 || second.RowsDeleted != 0 {
		t.Errorf("no-op resync wrote %d and deleted %d rows, want 0", second.RowsWritten, second.RowsDeleted)
	}
	if second.RowsUnchanged != first.RowsWritten {
		t.Errorf("no-op resync found %d rows unchanged, want %d", second.RowsUnchanged, first.RowsWritten)
	}
	for tbl, n := range writes {
		if got := n(); got != 0 {
			t.Errorf("table %s: %d rows written by a no-op resync, want 0", tbl, got)
		}
	}
	checkAwkwardMirror(t, e)
}

func TestUpdatesInsertsDeletesAndFilterLeavesPropagate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedAwkward(t, e)
	p := testenv.Pipeline(t, awkwardPipeline)
	mustSucceed(t, e.sync(t, p))

	e.src.Exec(t,
		"UPDATE dealers SET name = 'Renamed ✓', credit = credit + 0.0001 WHERE id IN (3, 17)",
		"UPDATE dealers SET note = NULL WHERE id = 3",
		"INSERT INTO dealers (id, name) VALUES (41, 'New dealer'), (0, 'Zero')",
		"DELETE FROM dealers WHERE id IN (5, 40)",
		"DELETE FROM `order` WHERE dealer_id = 2 AND `line` = 'B'",
		"UPDATE `order` SET amount = 99.99 WHERE dealer_id = 6 AND `line` = 'Z'",
		"UPDATE products SET active = 0 WHERE code = 'P-001'", // leaves the where filter
		"UPDATE products SET active = 1 WHERE code = 'P-005'", // enters it
	)
	s := e.sync(t, p)
	mustSucceed(t, s)
	checkAwkwardMirror(t, e)
	d := entity(t, s, "dealers")
	if d.RowsWritten != 4 || d.RowsDeleted != 2 {
		t.Errorf("dealers: written %d deleted %d, want 4 (2 changed, 2 new) and 2", d.RowsWritten, d.RowsDeleted)
	}
	o := entity(t, s, "orders")
	if o.RowsWritten != 1 || o.RowsDeleted != 1 {
		t.Errorf("orders: written %d deleted %d, want 1 and 1", o.RowsWritten, o.RowsDeleted)
	}
	pr := entity(t, s, "products")
	if pr.RowsWritten != 1 || pr.RowsDeleted != 1 {
		t.Errorf("products: written %d deleted %d, want 1 (entered the filter) and 1 (left it)", pr.RowsWritten, pr.RowsDeleted)
	}
}

func TestQuerySource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedAwkward(t, e)
	p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: query}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: 5
  entities:
  - name: dealer-orders
    source:
      query: "SELECT o.dealer_id, o.line, d.name AS dealer, o.amount FROM `+"`order`"+` o JOIN dealers d ON d.id = o.dealer_id"
      keyColumns: [dealer_id, line]
      where: "amount > 2"
    target: {table: dealer_orders}
    cleanup: {mode: Delete, maxDeletePercent: 50}
`)
	s := e.sync(t, p)
	mustSucceed(t, s)
	const q = "SELECT o.dealer_id, o.line, d.name, o.amount FROM `order` o JOIN dealers d ON d.id = o.dealer_id WHERE o.amount > 2"
	sameRows(t, e, q, "SELECT dealer_id, line, dealer, amount FROM dealer_orders")
	e.src.Exec(t, "DELETE FROM `order` WHERE dealer_id = 6 AND `line` IN ('a', 'B')")
	s = e.sync(t, p)
	mustSucceed(t, s)
	if got := entity(t, s, "dealer-orders"); got.RowsDeleted != 2 {
		t.Errorf("deleted %d, want 2", got.RowsDeleted)
	}
	sameRows(t, e, q, "SELECT dealer_id, line, dealer, amount FROM dealer_orders")
}

// Columns that appear in the source later are added to the target
// (nullable), and a column that disappears from the source is kept.
func TestSourceSchemaChangesExtendTheTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 20)
	p := testenv.Pipeline(t, guardPipeline("{mode: Delete}"))
	mustSucceed(t, e.sync(t, p))
	e.src.Exec(t, "ALTER TABLE items ADD COLUMN colour VARCHAR(10) NULL", "UPDATE items SET colour = 'red' WHERE id <= 3")
	s := e.sync(t, p)
	mustSucceed(t, s)
	sameRows(t, e, "SELECT id, label, colour FROM items", "SELECT id, label, colour FROM items")
	if got := entity(t, s, "items"); got.RowsWritten != 20 {
		t.Errorf("written %d: every row gains the new column once, want 20", got.RowsWritten)
	}
	e.src.Exec(t, "ALTER TABLE items DROP COLUMN colour")
	mustSucceed(t, e.sync(t, p))
	if n := e.dst.Count(t, "items", "colour = 'red'"); n != 3 {
		t.Errorf("a column dropped at the source must stay in the target: %d red rows", n)
	}
}
