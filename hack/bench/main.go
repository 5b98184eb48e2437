// Command bench measures Sisporta against the tools a user already knows,
// on this machine: a table of N rows and 10 columns mirrored through Redis
// by separate extractor and worker processes (full sync, no-op resync, 1%
// changed + 0.5% deleted), beside LOAD DATA LOCAL INFILE, mariadb-dump |
// mariadb and pt-table-sync of the same rows in the same run, and a bare
// keyset scan of the source in Go (the floor of any extractor). It prints
// wall time, rows/s, peak RSS and CPU per row of each process, the target
// rows each step changed (MariaDB's TABLE_STATISTICS), and each ratio of wall
// times that a performance goal bounds (goals, below) with whether it is met.
//
//	go run ./hack/bench -rows 1000000
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/hibiken/asynq"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/source"
)

var (
	rows     = flag.Int("rows", 1_000_000, "rows in the benchmark table")
	binPath  = flag.String("bin", "bin/sisporta", "the sisporta binary")
	mysqlDSN = flag.String("mysql", "root@tcp(127.0.0.1:3306)/", "MariaDB/MySQL server (root)")
	redisURL = flag.String("redis", "redis://127.0.0.1:6379/0", "Redis")
	workers  = flag.Int("concurrency", 4, "worker concurrency")
	batch    = flag.Int("batch", 1000, "batch size")
	keep     = flag.Bool("keep", false, "keep the benchmark databases")
	refs     = flag.Bool("refs", true, "time the reference tools too (LOAD DATA, mariadb-dump, the read floor, pt-table-sync); without them no ratio is printed")
	logDir   = flag.String("logs", "", "write each step's extractor and worker logs (debug level) to files in this directory")
)

const (
	srcDB = "sisporta_bench_src"
	dstDB = "sisporta_bench_dst"
	refDB = "sisporta_bench_ref"
)

type result struct {
	name       string
	key        string // names the result in the ratios
	changed    int64  // target rows changed (-1: unknown)
	wall       time.Duration
	rows       int64
	note       string
	rssExtract int64 // KiB
	rssWork    int64
	cpuExtract time.Duration
	cpuWork    time.Duration
	cpuServers serverTimes // when their /proc entries are readable
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	if *logDir != "" {
		// Before the table is made: a folder that cannot be made fails now.
		if err := os.MkdirAll(*logDir, 0o755); err != nil {
			return fmt.Errorf("-logs: %w", err)
		}
	}
	admin, err := open("")
	if err != nil {
		return err
	}
	defer admin.Close()
	fmt.Println(machineLine())
	fmt.Printf("preparing %d rows x 10 columns ...\n", *rows)
	if err := prepare(admin); err != nil {
		return err
	}
	if !*keep {
		defer func() {
			for _, db := range []string{srcDB, dstDB, refDB} {
				_, _ = admin.Exec("DROP DATABASE IF EXISTS " + db)
			}
		}()
	}
	var results []result
	if *refs {
		refResults, err := references(ctx, admin)
		if err != nil {
			return err
		}
		results = append(results, refResults...)
	}
	stats := newRowStats(admin)
	defer stats.restore()

	dir, err := os.MkdirTemp("", "sisporta-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	name := fmt.Sprintf("bench-%d", time.Now().Unix())
	cfg := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(pipelineYAML, name, *batch, *workers)), 0o600); err != nil {
		return err
	}
	q := queue.Name("default", name)
	rdb, _, err := queue.Connect(ctx, *redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	runs := runstate.NewStore(rdb)
	defer runs.Purge(ctx, q)                                          //nolint:errcheck
	defer asynq.NewInspectorFromRedisClient(rdb).DeleteQueue(q, true) //nolint:errcheck

	for _, step := range []struct {
		name, key string
		before    func() error
		ptSync    string // compare with pt-table-sync on the reference copy after this step
	}{
		{"sisporta full sync (empty target)", "full", nil, ""},
		{"sisporta no-op resync", "noop", nil, "pt-table-sync, tables already equal (reference)"},
		{"sisporta 1% changed + 0.5% deleted", "changed", func() error { return change(admin) }, "pt-table-sync, 1% changed + 0.5% deleted (reference)"},
	} {
		if step.before != nil {
			if err := step.before(); err != nil {
				return err
			}
		}
		if err := settle(ctx, admin); err != nil {
			return err
		}
		stats.reset()
		r, err := syncRun(ctx, runs, q, cfg, step.key)
		if err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
		r.name, r.key, r.changed = step.name, step.key, stats.changed(dstDB)
		results = append(results, r)
		if err := verifyMirror(admin); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
		if step.ptSync != "" && *refs {
			if err := settle(ctx, admin); err != nil {
				return err
			}
			if pr, err := ptTableSync(); err == nil {
				pr.name, pr.key = step.ptSync, "pt-"+step.key
				results = append(results, pr)
			} else {
				fmt.Println("pt-table-sync skipped:", err)
			}
		}
	}

	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHAT\tWALL\tROWS/S\tEXTRACT RSS\tWORKER RSS\tCPU µs/ROW EXTRACT\tWORKER\tMARIADB\tREDIS\tTARGET ROWS CHANGED\tNOTE")
	for _, r := range results {
		rate := "-"
		if r.rows > 0 && r.wall > 0 {
			rate = fmt.Sprintf("%.0f", float64(r.rows)/r.wall.Seconds())
		}
		changed := "-"
		if (r.key == "full" || r.key == "noop" || r.key == "changed") && r.changed >= 0 {
			changed = fmt.Sprint(r.changed)
		}
		fmt.Fprintf(tw, "%s\t%.1fs\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.name, r.wall.Seconds(), rate, mib(r.rssExtract), mib(r.rssWork),
			perRow(r.cpuExtract), perRow(r.cpuWork), perRow(r.cpuServers.db), perRow(r.cpuServers.redis), changed, r.note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printRatios(results)
	return nil
}

// references times the tools a user already knows for a full copy, and
// the bare read of the source.
func references(ctx context.Context, admin *sql.DB) ([]result, error) {
	var results []result
	if err := settle(ctx, admin); err != nil {
		return nil, err
	}
	r, err := loadDataReference(ctx)
	if err != nil {
		return nil, err
	}
	r.key = "load"
	results = append(results, r)
	if err := settle(ctx, admin); err != nil {
		return nil, err
	}
	if r, err := dumpPipeReference(); err == nil {
		r.key = "dump"
		results = append(results, r)
	} else {
		fmt.Println("mariadb-dump | mariadb skipped:", err)
	}
	if err := settle(ctx, admin); err != nil {
		return nil, err
	}
	if r, err := readFloor(ctx); err == nil {
		results = append(results, r)
	} else {
		fmt.Println("source read floor skipped:", err)
	}
	return results, nil
}

// settle lets the server finish the previous step's background work
// before a timed step starts, so that no step pays for the one before
// it: every table of the bench's databases has its dirty pages written
// (FLUSH TABLES … FOR EXPORT returns once they are on disk; left alone,
// InnoDB writes a copy's 137 MiB over a minute or more, during whatever
// runs next), and InnoDB's purge of old row versions (the 1% change's)
// catches up, for up to a minute.
func settle(ctx context.Context, admin *sql.DB) error {
	rows, err := admin.QueryContext(ctx, "SELECT CONCAT('`', TABLE_SCHEMA, '`.`', TABLE_NAME, '`') FROM information_schema.TABLES"+
		" WHERE TABLE_SCHEMA IN (?, ?, ?) AND ENGINE = 'InnoDB'", srcDB, dstDB, refDB)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			_ = rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if len(tables) > 0 {
		conn, err := admin.Conn(ctx) // the tables stay locked in this session until UNLOCK TABLES
		if err != nil {
			return err
		}
		_, err = conn.ExecContext(ctx, "FLUSH TABLES "+strings.Join(tables, ", ")+" FOR EXPORT")
		_, uerr := conn.ExecContext(ctx, "UNLOCK TABLES")
		_ = conn.Close()
		if err != nil {
			return fmt.Errorf("writing the tables' dirty pages before a step: %w", err)
		}
		if uerr != nil {
			return uerr
		}
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var name string
		var history int64
		if err := admin.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'").Scan(&name, &history); err != nil || history < 100 {
			return nil // a server that does not say has nothing to wait for
		}
	}
	return nil
}

// perRow is CPU time per row of the table, in microseconds.
func perRow(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(d.Microseconds())/float64(*rows))
}

// goals are the performance goals, as ratios of wall times in one run.
var goals = []struct {
	what, num, den string
	max            float64
}{
	{"full copy / mariadb-dump | mariadb", "full", "dump", 0.6},
	{"full copy / LOAD DATA LOCAL INFILE", "full", "load", 0},
	{"no-op resync / pt-table-sync", "noop", "pt-noop", 0.35},
	{"1% changed + 0.5% deleted / pt-table-sync", "changed", "pt-changed", 0.2},
}

// printRatios prints each goal's ratio and whether it is met.
func printRatios(results []result) {
	byKey := map[string]result{}
	for _, r := range results {
		byKey[r.key] = r
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RATIO\tVALUE\tGOAL")
	for _, g := range goals {
		n, okN := byKey[g.num]
		d, okD := byKey[g.den]
		if !okN || !okD || d.wall == 0 {
			fmt.Fprintf(tw, "%s\t-\t(a side was skipped)\n", g.what)
			continue
		}
		ratio := n.wall.Seconds() / d.wall.Seconds()
		goal := "(for reference)"
		if g.max > 0 {
			verdict := "met"
			if ratio > g.max {
				verdict = "NOT met"
			}
			goal = fmt.Sprintf("<= %.2f: %s", g.max, verdict)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\n", g.what, ratio, goal)
	}
	_ = tw.Flush()
}

func mib(kib int64) string {
	if kib == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(kib)/1024)
}

const pipelineYAML = `apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: %s}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: %d
  workers: {concurrency: %d}
  entities:
  - name: orders
    source: {table: orders}
    target: {table: orders}
    cleanup: {mode: Delete, maxDeletePercent: 5}
`

func open(db string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(*mysqlDSN)
	if err != nil {
		return nil, err
	}
	cfg.DBName = db
	cfg.AllowAllFiles = true
	cfg.InterpolateParams = true
	return sql.Open("mysql", cfg.FormatDSN())
}

func dsn(db string) string {
	cfg, _ := mysql.ParseDSN(*mysqlDSN)
	cfg.DBName = db
	return cfg.FormatDSN()
}

const tableDDL = `(
  id BIGINT NOT NULL PRIMARY KEY, customer_id INT NOT NULL, status VARCHAR(16) NOT NULL, title VARCHAR(80) NOT NULL,
  amount DECIMAL(12,2) NOT NULL, quantity INT NOT NULL, created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NULL,
  note VARCHAR(120) NULL, flags TINYINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

// prepare makes the source table with MariaDB's sequence engine.
func prepare(admin *sql.DB) error {
	stmts := []string{
		"DROP DATABASE IF EXISTS " + srcDB, "DROP DATABASE IF EXISTS " + dstDB, "DROP DATABASE IF EXISTS " + refDB,
		"CREATE DATABASE " + srcDB + " CHARACTER SET utf8mb4", "CREATE DATABASE " + dstDB + " CHARACTER SET utf8mb4",
		"CREATE DATABASE " + refDB + " CHARACTER SET utf8mb4",
		"CREATE TABLE " + srcDB + ".orders " + tableDDL,
		fmt.Sprintf(`INSERT INTO %s.orders SELECT seq, seq %% 5000, ELT(1 + seq %% 4, 'new', 'paid', 'shipped', 'closed'),
  CONCAT('Garage door order ', seq), (seq %% 100000) / 7, seq %% 17, '2024-01-01 00:00:00' + INTERVAL seq SECOND,
  IF(seq %% 3 = 0, NULL, '2024-06-01 12:00:00.123456' + INTERVAL seq SECOND), IF(seq %% 5 = 0, NULL, CONCAT('note ', MD5(seq))), seq %% 2
FROM %s.seq_1_to_%d`, srcDB, srcDB, *rows),
	}
	for _, s := range stmts {
		if _, err := admin.Exec(s); err != nil {
			return fmt.Errorf("%.60s: %w", s, err)
		}
	}
	return nil
}

// change updates 1% and deletes 0.5% of the source rows.
func change(admin *sql.DB) error {
	for _, s := range []string{
		fmt.Sprintf("UPDATE %s.orders SET status = 'changed', amount = amount + 1 WHERE id %% 100 = 7", srcDB),
		fmt.Sprintf("DELETE FROM %s.orders WHERE id %% 200 = 13", srcDB),
	} {
		if _, err := admin.Exec(s); err != nil {
			return err
		}
	}
	return nil
}

func verifyMirror(admin *sql.DB) error {
	sum := func(db string) (string, error) {
		var n int64
		var s sql.NullString
		err := admin.QueryRow(fmt.Sprintf(`SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, customer_id, status, title, amount, quantity, created_at, IFNULL(updated_at,'-'), IFNULL(note,'-'), flags))) FROM %s.orders`, db)).Scan(&n, &s)
		return fmt.Sprintf("%d/%s", n, s.String), err
	}
	a, err := sum(srcDB)
	if err != nil {
		return err
	}
	b, err := sum(dstDB)
	if err != nil {
		return err
	}
	if a != b {
		return fmt.Errorf("mirror differs from source: %s vs %s", b, a)
	}
	return nil
}

// syncRun runs `sisporta extract` and `sisporta work` as separate
// processes and times them until the run is complete.
func syncRun(ctx context.Context, runs *runstate.Store, q, cfg, step string) (result, error) {
	env := append(os.Environ(), "SISPORTA_SOURCE_DSN="+dsn(srcDB), "SISPORTA_TARGET_DSN="+dsn(dstDB), "SISPORTA_REDIS_URL="+*redisURL)
	workArgs := []string{"work", "--config", cfg, "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0"}
	extractArgs := []string{"extract", "--config", cfg, "--max-pending", "200"}
	exErr := &tail{}
	var workLog, extractLog io.Writer = &tail{}, exErr
	if *logDir != "" {
		workArgs, extractArgs = append(workArgs, "-v", "--zap-time-encoding=rfc3339nano"), append(extractArgs, "-v", "--zap-time-encoding=rfc3339nano")
		wf, err := os.Create(filepath.Join(*logDir, step+"-work.log"))
		if err != nil {
			return result{}, err
		}
		defer wf.Close()
		ef, err := os.Create(filepath.Join(*logDir, step+"-extract.log"))
		if err != nil {
			return result{}, err
		}
		defer ef.Close()
		workLog, extractLog = wf, io.MultiWriter(ef, exErr)
	}
	servers0 := serverCPU()
	start := time.Now()
	if *logDir != "" {
		fmt.Printf("%s: started %s\n", step, start.UTC().Format(time.RFC3339Nano))
	}
	work := exec.Command(*binPath, workArgs...)
	work.Env = env
	work.Stderr = workLog
	if err := work.Start(); err != nil {
		return result{}, err
	}
	extract := exec.Command(*binPath, extractArgs...)
	extract.Env, extract.Stdout = env, nil
	extract.Stderr = extractLog
	if err := extract.Run(); err != nil {
		_ = work.Process.Kill()
		return result{}, fmt.Errorf("extract: %v: %s", err, exErr)
	}
	recent, err := runs.Recent(ctx, q, 1)
	if err != nil || len(recent) == 0 {
		_ = work.Process.Kill()
		return result{}, fmt.Errorf("no run recorded: %v", err)
	}
	id := recent[0].Meta.ID
	var r *runstate.Run
	for {
		r, err = runs.Get(ctx, q, id)
		if err != nil {
			return result{}, err
		}
		if r.Result() != syncv1alpha1.RunRunning {
			break
		}
		// Polled often enough that the poll adds little to the wall time
		// (half the interval on average), which the references do not pay.
		time.Sleep(10 * time.Millisecond)
	}
	wall := time.Since(start)
	servers := serverCPU().since(servers0)
	_ = work.Process.Signal(syscall.SIGTERM)
	_ = work.Wait()
	if r.Result() != syncv1alpha1.RunSucceeded {
		return result{}, fmt.Errorf("run %s: %s", r.Result(), r.Message())
	}
	read, written, unchanged, deleted := r.Totals()
	return result{wall: wall, rows: int64(*rows), rssExtract: maxRSS(extract), rssWork: maxRSS(work),
		cpuExtract: cpu(extract), cpuWork: cpu(work), cpuServers: servers,
		note: fmt.Sprintf("read %d, written %d, unchanged %d, deleted %d", read, written, unchanged, deleted)}, nil
}

func cpu(c *exec.Cmd) time.Duration {
	if c.ProcessState == nil {
		return 0
	}
	return c.ProcessState.UserTime() + c.ProcessState.SystemTime()
}

func maxRSS(c *exec.Cmd) int64 {
	if c.ProcessState == nil {
		return 0
	}
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss // KiB on Linux
	}
	return 0
}

// loadDataReference times LOAD DATA LOCAL INFILE of the same rows from a
// Go client into an empty table.
func loadDataReference(ctx context.Context) (result, error) {
	src, err := open(srcDB)
	if err != nil {
		return result{}, err
	}
	defer src.Close()
	f, err := os.CreateTemp("", "sisporta-bench-*.tsv")
	if err != nil {
		return result{}, err
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	rs, err := src.QueryContext(ctx, "SELECT id, customer_id, status, title, amount, quantity, created_at, IFNULL(updated_at, '\\\\N'), IFNULL(note, '\\\\N'), flags FROM orders")
	if err != nil {
		return result{}, err
	}
	vals := make([]sql.RawBytes, 10)
	ptrs := make([]any, 10)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := int64(0)
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return result{}, err
		}
		for i, v := range vals {
			if i > 0 {
				_ = w.WriteByte('\t')
			}
			_, _ = w.Write(v)
		}
		_ = w.WriteByte('\n')
		n++
	}
	if err := rs.Err(); err != nil {
		return result{}, err
	}
	if err := w.Flush(); err != nil {
		return result{}, err
	}
	if err := f.Close(); err != nil {
		return result{}, err
	}
	ref, err := open(refDB)
	if err != nil {
		return result{}, err
	}
	defer ref.Close()
	if _, err := ref.Exec("CREATE TABLE orders " + tableDDL); err != nil {
		return result{}, err
	}
	mysql.RegisterLocalFile(f.Name())
	servers0 := serverCPU()
	start := time.Now()
	if _, err := ref.Exec("LOAD DATA LOCAL INFILE '" + f.Name() + "' INTO TABLE orders"); err != nil {
		return result{}, fmt.Errorf("LOAD DATA LOCAL INFILE (the server needs local_infile=ON): %w", err)
	}
	return result{name: "LOAD DATA LOCAL INFILE (reference)", wall: time.Since(start), rows: n, note: "file already written",
		cpuServers: serverCPU().since(servers0)}, nil
}

// dumpPipeReference times mariadb-dump | mariadb of the table.
func dumpPipeReference() (result, error) {
	dump, err := exec.LookPath("mariadb-dump")
	if err != nil {
		return result{}, errors.New("mariadb-dump not installed")
	}
	client, err := exec.LookPath("mariadb")
	if err != nil {
		return result{}, errors.New("mariadb client not installed")
	}
	cfg, _ := mysql.ParseDSN(*mysqlDSN)
	host, port, _ := strings.Cut(cfg.Addr, ":")
	args := []string{"-h", host, "-P", port, "-u", cfg.User}
	if cfg.Passwd != "" {
		args = append(args, "-p"+cfg.Passwd)
	}
	servers0 := serverCPU()
	start := time.Now()
	cmd := exec.Command("sh", "-c", fmt.Sprintf("%s %s %s orders | %s %s %s",
		dump, strings.Join(args, " "), srcDB, client, strings.Join(args, " "), refDB))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("%v: %s", err, out)
	}
	return result{name: "mariadb-dump | mariadb (reference)", wall: time.Since(start), rows: int64(*rows), cpuServers: serverCPU().since(servers0)}, nil
}

// tail keeps the end of a process's output for error messages.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.b) }

// serverTimes are the CPU times of the local database server and Redis.
type serverTimes struct{ db, redis time.Duration }

func (t serverTimes) since(t0 serverTimes) serverTimes {
	return serverTimes{db: t.db - t0.db, redis: t.redis - t0.redis}
}

// serverCPU reads the CPU time of the local mariadbd and redis-server
// processes (0 when /proc does not show them).
func serverCPU() serverTimes {
	var total serverTimes
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		if name != "mariadbd" && name != "mysqld" && name != "redis-server" {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		if len(f) < 13 {
			continue
		}
		// utime and stime; a field that does not parse counts as 0.
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		d := time.Duration(ut+st) * time.Second / 100 // USER_HZ
		if name == "redis-server" {
			total.redis += d
		} else {
			total.db += d
		}
	}
	return total
}

// ptTableSync times pt-table-sync bringing the reference copy (made by the
// dump pipe, never changed since) in line with the source: the usual
// reference for change detection.
func ptTableSync() (result, error) {
	bin, env, err := ptTableSyncBinary()
	if err != nil {
		return result{}, err
	}
	cfg, _ := mysql.ParseDSN(*mysqlDSN)
	host, port, _ := strings.Cut(cfg.Addr, ":")
	dsn := func(db string) string {
		d := fmt.Sprintf("h=%s,P=%s,u=%s,D=%s,t=orders", host, port, cfg.User, db)
		if cfg.Passwd != "" {
			d += ",p=" + cfg.Passwd
		}
		return d
	}
	servers0 := serverCPU()
	start := time.Now()
	cmd := exec.Command(bin, "--execute", "--verbose", dsn(srcDB), dsn(refDB))
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	// pt-table-sync exits 2 when it changed something: that is success here.
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 2) {
		return result{}, fmt.Errorf("%v: %s", err, out)
	}
	return result{wall: wall, rows: int64(*rows), cpuServers: serverCPU().since(servers0), note: lastLine(string(out))}, nil
}

// ptTableSyncBinary finds pt-table-sync: on the PATH, or unpacked from
// Debian's packages by hack/percona.sh, with the PERL5LIB it needs.
func ptTableSyncBinary() (string, []string, error) {
	if bin, err := exec.LookPath("pt-table-sync"); err == nil {
		return bin, os.Environ(), nil
	}
	out, err := exec.Command("hack/percona.sh").Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 2 {
		return "", nil, fmt.Errorf("not installed, and hack/percona.sh could not fetch it (%v): apt-get install percona-toolkit", err)
	}
	return filepath.Join(lines[0], "pt-table-sync"), append(os.Environ(), "PERL5LIB="+lines[1]), nil
}

// readFloor times a bare keyset scan of the source table in Go, in pages
// of the batch size, decoding every value as the extractor does: no
// pipeline can read faster than this.
func readFloor(ctx context.Context) (result, error) {
	src, err := source.Open(ctx, syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceMySQL}, dsn(srcDB))
	if err != nil {
		return result{}, err
	}
	defer src.Close()
	e, err := src.Resolve(ctx, syncv1alpha1.EntitySpec{Name: "orders", Source: syncv1alpha1.EntitySource{Table: "orders"}})
	if err != nil {
		return result{}, err
	}
	servers0 := serverCPU()
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	var n int64
	req := source.PageRequest{Limit: *batch}
	for {
		page, err := src.ReadPage(ctx, e, req)
		if err != nil {
			return result{}, err
		}
		n += int64(len(page.Rows))
		if page.Done {
			break
		}
		req.After = page.Last
	}
	wall := time.Since(start)
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	return result{name: "source read floor: bare keyset scan in Go (reference)", key: "floor", wall: wall, rows: n,
		cpuExtract: cpu, cpuServers: serverCPU().since(servers0), note: fmt.Sprintf("pages of %d", *batch)}, nil
}

// rowStats counts the rows each step changes in the target through
// MariaDB's user statistics (TABLE_STATISTICS.ROWS_CHANGED), turned on for
// the run and restored after it.
type rowStats struct {
	db      *sql.DB
	was     sql.NullString
	enabled bool
}

func newRowStats(db *sql.DB) *rowStats {
	s := &rowStats{db: db}
	if err := db.QueryRow("SELECT @@GLOBAL.userstat").Scan(&s.was); err != nil {
		fmt.Println("target rows changed not counted: this server has no user statistics (MariaDB's userstat)")
		return s
	}
	if _, err := db.Exec("SET GLOBAL userstat = 1"); err != nil {
		fmt.Println("target rows changed not counted:", err)
		return s
	}
	s.enabled = true
	return s
}

func (s *rowStats) reset() {
	if s.enabled {
		_, _ = s.db.Exec("FLUSH TABLE_STATISTICS")
	}
}

// changed is the rows the last step inserted, updated or deleted in the
// target table; -1 when unknown.
func (s *rowStats) changed(db string) int64 {
	if !s.enabled {
		return -1
	}
	var n sql.NullInt64
	err := s.db.QueryRow("SELECT SUM(ROWS_CHANGED) FROM information_schema.TABLE_STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'orders'", db).Scan(&n)
	if err != nil {
		return -1
	}
	return n.Int64
}

func (s *rowStats) restore() {
	if s.enabled && s.was.Valid {
		_, _ = s.db.Exec("SET GLOBAL userstat = " + map[bool]string{true: "1", false: "0"}[s.was.String == "1" || strings.EqualFold(s.was.String, "ON")])
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) >= 4 {
		return fmt.Sprintf("deleted %s, replaced %s, inserted %s, updated %s", f[1], f[2], f[3], f[4])
	}
	return ""
}
