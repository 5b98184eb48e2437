package controllers

import (
	"testing"
	"time"
)

func TestDecideReplicas(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	base := scaleInput{Min: 0, Max: 8, PerReplica: 50, Window: 5 * time.Minute, Now: now}
	with := func(f func(*scaleInput)) scaleInput { in := base; f(&in); return in }

	cases := []struct {
		name      string
		in        scaleInput
		want      int32
		holding   bool // a scale-down is held back by the window
		recheckIn time.Duration
	}{
		{"idle and min 0 scales to zero", with(func(in *scaleInput) {}), 0, false, 0},
		{"idle keeps minReplicas", with(func(in *scaleInput) { in.Min = 2; in.Current = 2 }), 2, false, 0},
		{"one pending task wants one worker", with(func(in *scaleInput) { in.Pending = 1 }), 1, false, 0},
		{"ceil(pending / target)", with(func(in *scaleInput) { in.Pending = 101 }), 3, false, 0},
		{"active tasks count like pending ones", with(func(in *scaleInput) { in.Pending = 60; in.Active = 40 }), 2, false, 0},
		{"clamped to maxReplicas", with(func(in *scaleInput) { in.Pending = 10_000 }), 8, false, 0},
		{"up at once from a running count", with(func(in *scaleInput) { in.Pending = 400; in.Current = 2; in.DownSince = ago(time.Minute) }), 8, false, 0},
		{"pre-warm while an extraction runs", with(func(in *scaleInput) { in.ExtractionRunning = true }), 1, false, 0},
		{"pre-warm respects a larger need", with(func(in *scaleInput) { in.ExtractionRunning = true; in.Pending = 120 }), 3, false, 0},
		{"tasks waiting for a retry keep one worker", with(func(in *scaleInput) { in.Later = 3 }), 1, false, 0},
		{"down is held when the queue first shrinks", with(func(in *scaleInput) { in.Current = 4; in.Pending = 50 }), 4, true, 5 * time.Minute},
		{"down is held within the window", with(func(in *scaleInput) { in.Current = 4; in.DownSince = ago(2 * time.Minute) }), 4, true, 3 * time.Minute},
		{"down after the window", with(func(in *scaleInput) { in.Current = 4; in.Pending = 50; in.DownSince = ago(5 * time.Minute) }), 1, false, 0},
		{"to zero after the window", with(func(in *scaleInput) { in.Current = 4; in.DownSince = ago(10 * time.Minute) }), 0, false, 0},
		{"a zero window scales down at once", with(func(in *scaleInput) { in.Current = 4; in.Window = 0 }), 0, false, 0},
		{"a since in the future restarts the window", with(func(in *scaleInput) { in.Current = 4; t := now.Add(time.Hour); in.DownSince = &t }), 4, true, 5 * time.Minute},
		{"a zero target per replica is treated as one", with(func(in *scaleInput) { in.PerReplica = 0; in.Pending = 3 }), 3, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decideReplicas(tc.in)
			if d.Replicas != tc.want {
				t.Errorf("replicas %d, want %d", d.Replicas, tc.want)
			}
			if (d.DownSince != nil) != tc.holding {
				t.Errorf("downSince %v, want held=%t", d.DownSince, tc.holding)
			}
			if d.RecheckAfter != tc.recheckIn {
				t.Errorf("recheck after %s, want %s", d.RecheckAfter, tc.recheckIn)
			}
			if tc.holding && tc.in.DownSince != nil && !tc.in.DownSince.After(now) && !d.DownSince.Equal(*tc.in.DownSince) {
				t.Errorf("downSince moved from %s to %s: the window must count from the first shrink", tc.in.DownSince, d.DownSince)
			}
		})
	}
}
