package extract_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr/testr"
	"github.com/go-sql-driver/mysql"
	"github.com/hibiken/asynq"

	"github.com/sisporta/sisporta/runner/extract"
	"github.com/sisporta/sisporta/runner/source"
)

// countingProxy forwards TCP connections to a server and counts the bytes
// the server sends back.
type countingProxy struct {
	ln   net.Listener
	sent atomic.Int64
	wg   sync.WaitGroup
}

func newCountingProxy(t *testing.T, upstream string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(s, c); s.Close() }()
			go func() {
				defer p.wg.Done()
				n, _ := io.Copy(c, s)
				p.sent.Add(n)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// A page of wide rows ends at its byte bound long before its row limit.
// The statement must not ask for thousands of rows more than it keeps:
// the driver reads all of them to reach the next statement, so the source
// would send the rest of the table (up to the limit) for every page.
func TestWideRowsAreNotReadManyTimes(t *testing.T) {
	const rows, width, batchBytes = 2000, 8 << 10, 64 << 10
	f := newFixture(t, 0, 1000)
	f.src.Exec(t, "ALTER TABLE items MODIFY label LONGTEXT NOT NULL")
	stmt, err := f.src.DB.Prepare("INSERT INTO items VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, width/2)
	for i := 1; i <= rows; i++ {
		if _, err := rand.Read(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := stmt.Exec(i, hex.EncodeToString(buf)); err != nil {
			t.Fatal(err)
		}
	}
	stmt.Close()

	cfg, err := mysql.ParseDSN(f.src.DSN)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCountingProxy(t, cfg.Addr)
	cfg.Addr = proxy.ln.Addr().String()
	ctx := context.Background()
	src, err := source.Open(ctx, f.p.Spec.Source, cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// Batches of 64 KiB, 8 rows each, and statements of 2 MiB (256 rows),
	// where the pipeline's batchSize (1,000) and its read-ahead would ask
	// for 8,000 rows a statement: every statement the rest of the table.
	x := &extract.Extractor{Pipeline: f.p, Source: src, Client: asynq.NewClientFromRedisClient(f.rdb), Redis: f.rdb,
		Runs: f.runs, Trigger: "test", Log: testr.New(t), MaxBatchBytes: batchBytes}
	res, err := x.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if failed := res.Failed(); len(failed) > 0 {
		t.Fatalf("entities failed: %v (%v)", failed, res.Entities[0].Err)
	}
	src.Close()
	proxy.ln.Close()
	proxy.wg.Wait()

	table := int64(rows * width)
	sent := proxy.sent.Load()
	t.Logf("the source sent %d bytes for a table of %d bytes of values in %d batches", sent, table, res.Entities[0].Batches)
	if sent > table*3/2 {
		t.Errorf("the source sent %.1f times the table's bytes (%d for %d): pages read far more rows than they keep", float64(sent)/float64(table), sent, table)
	}
	if got := res.Entities[0].RowsRead; got != rows {
		t.Errorf("read %d rows, want %d", got, rows)
	}

	// The batches hold every row once, in key order, none over its bound.
	batches, _ := f.queued(t, res.RunID)
	next := 1
	for _, b := range batches {
		size := 0
		for _, r := range b.Rows {
			if got := id(t, r[:1]); got != next {
				t.Fatalf("batch %d: row %d where %d comes next", b.Seq, got, next)
			}
			next++
			for _, v := range r {
				size += len(v)
			}
		}
		if size > batchBytes+width+16 {
			t.Errorf("batch %d holds %d bytes of values, over its %d bound by more than a row", b.Seq, size, batchBytes)
		}
	}
	if next != rows+1 {
		t.Errorf("the batches hold rows 1..%d, want 1..%d", next-1, rows)
	}
}
