package localsync

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// display shows a live line per entity on a terminal: rows read, written
// and unchanged, and the rate. Without a terminal it shows nothing (the
// summary tells the outcome).
type display struct {
	p        *mpb.Progress
	entities map[string]*entityProgress
	once     sync.Once
}

type entityProgress struct {
	read, written, unchanged atomic.Int64
	done, finished           atomic.Bool
	start                    time.Time
	bar                      *mpb.Bar
}

func newDisplay(out io.Writer, p *syncv1alpha1.SyncPipeline) *display {
	d := &display{entities: map[string]*entityProgress{}}
	if out != nil {
		// The caller passes a terminal (or a test buffer): always refresh.
		// On a terminal the width is the spinner's; elsewhere mpb takes it
		// for the whole line.
		width := 120
		if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			width = 3
		}
		d.p = mpb.New(mpb.WithOutput(out), mpb.WithAutoRefresh(), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithWidth(width))
	}
	for _, e := range p.Spec.Entities {
		ep := &entityProgress{start: time.Now()}
		d.entities[e.Name] = ep
		if d.p != nil {
			ep.bar = d.p.New(0, mpb.SpinnerStyle(), mpb.BarFillerClearOnComplete(),
				mpb.PrependDecorators(decor.Name(e.Name, decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return ep.line() })))
		}
	}
	return d
}

func (e *entityProgress) line() string {
	secs := time.Since(e.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(e.read.Load()) / secs
	}
	state := "reading"
	switch {
	case e.finished.Load():
		state = "done"
	case e.done.Load():
		state = "applying"
	}
	return fmt.Sprintf("%-8s read %d  written %d  unchanged %d  %.0f rows/s", state, e.read.Load(), e.written.Load(), e.unchanged.Load(), rate)
}

// read is the extractor's progress callback.
func (d *display) read(entity string, rows int64, done bool) {
	if e := d.entities[entity]; e != nil {
		e.read.Store(rows)
		if done {
			e.done.Store(true)
		}
	}
}

// applied is the worker's progress callback.
func (d *display) applied(entity string, written, unchanged int) {
	if e := d.entities[entity]; e != nil {
		e.written.Add(int64(written))
		e.unchanged.Add(int64(unchanged))
	}
}

func (d *display) stop() {
	d.once.Do(func() {
		if d.p == nil {
			return
		}
		for _, e := range d.entities {
			e.finished.Store(true)
			e.bar.SetTotal(-1, true)
		}
		d.p.Wait()
	})
}
