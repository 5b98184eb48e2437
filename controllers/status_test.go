package controllers

import (
	"context"
	"encoding/json"
	"io"
	"k8s.io/apimachinery/pkg/api/meta"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
)

// fakeRun writes a run summary the way the extractor and workers do.
type fakeRun struct {
	t     *testing.T
	store *runstate.Store
	queue string
	id    int64
	snap  time.Time
}

func startRun(t *testing.T, rdb redis.UniversalClient, ns, name string, snap time.Time, warnings ...string) *fakeRun {
	t.Helper()
	ctx := context.Background()
	r := &fakeRun{t: t, store: runstate.NewStore(rdb), queue: queue.Name(ns, name), snap: snap}
	id, _, err := r.store.NewRunID(ctx, r.queue)
	if err != nil {
		t.Fatal(err)
	}
	r.id = id
	if err := r.store.Start(ctx, r.queue, runstate.Meta{ID: id, Pipeline: ns + "/" + name, SnapshotTime: snap, StartTime: snap, Entities: []string{"products", "dealers"}, Trigger: "schedule", Warnings: warnings}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *fakeRun) extracted(entity string, rows int64) {
	r.t.Helper()
	if err := r.store.SetExtract(context.Background(), r.queue, r.id, entity, runstate.Extract{RowsRead: rows, Batches: 1, Done: true, StartTime: r.snap, EndTime: r.snap.Add(time.Minute)}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *fakeRun) final(entity string, f runstate.Final) {
	r.t.Helper()
	if err := r.store.SetFinal(context.Background(), r.queue, r.id, entity, f); err != nil {
		r.t.Fatal(err)
	}
}

func (r *fakeRun) ID() string { return strconv.FormatInt(r.id, 10) }

// TestStatusReportsRunsFromTheSummary: the status, the printer columns and
// the events follow the run summary the workers keep in Redis, and a run
// in flight never flips Ready.
func TestStatusReportsRunsFromTheSummary(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, _ := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	createPipeline(t, newPipeline(ns, "erp"))
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", syncv1alpha1.ReasonAwaitingFirstRun)

	// Run 1 succeeds; the dealers cleanup is refused by its guard.
	snap := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Second)
	const canWrite = "the source login can modify data (INSERT on `erp`): use a read-only login"
	run1 := startRun(t, rdb, ns, "erp", snap, canWrite)
	run1.extracted("products", 100)
	run1.extracted("dealers", 10)
	run1.final("products", runstate.Final{Result: syncv1alpha1.RunSucceeded, RowsRead: 100, RowsWritten: 40, RowsUnchanged: 60, RowsDeleted: 2, EndTime: snap.Add(2 * time.Minute),
		Cleanup: &runstate.Cleanup{Time: snap.Add(2 * time.Minute), Result: syncv1alpha1.CleanupSucceeded, Deleted: 2}})
	run1.final("dealers", runstate.Final{Result: syncv1alpha1.RunSucceeded, RowsRead: 10, RowsWritten: 10, EndTime: snap.Add(3 * time.Minute),
		Cleanup: &runstate.Cleanup{Time: snap.Add(3 * time.Minute), Result: syncv1alpha1.CleanupGuardTripped, Deleted: 6, Message: "would delete 6 of 10 rows (60%), more than maxDeletePercent 20"}})
	poke(t, ns, "erp")

	p := waitCondition(t, ns, "erp", syncv1alpha1.ConditionDegraded, "True", syncv1alpha1.ReasonCleanupGuardTripped)
	if err := conditionIs(p, syncv1alpha1.ConditionReady, "True", syncv1alpha1.ReasonSynced); err != nil {
		t.Errorf("a tripped guard must not flip Ready: %v", err)
	}
	s := p.Status
	if s.LastRun == nil || s.LastRun.ID != run1.ID() || s.LastRun.Result != syncv1alpha1.RunSucceeded ||
		s.LastRun.RowsRead != 110 || s.LastRun.RowsWritten != 50 || s.LastRun.RowsUnchanged != 60 || s.LastRun.RowsDeleted != 2 {
		t.Errorf("lastRun %+v", s.LastRun)
	}
	if s.LastRun.SourceSnapshotTime == nil || !s.LastRun.SourceSnapshotTime.Time.Equal(snap) || s.LastRun.CompletionTime == nil || !s.LastRun.CompletionTime.Time.Equal(snap.Add(3*time.Minute)) {
		t.Errorf("lastRun times %v → %v, want %s → +3m", s.LastRun.SourceSnapshotTime, s.LastRun.CompletionTime, snap)
	}
	if s.LastSuccessfulRun == nil || s.LastSuccessfulRun.ID != run1.ID() {
		t.Errorf("lastSuccessfulRun %+v", s.LastSuccessfulRun)
	}
	if s.Lag == nil || s.Lag.Duration != 3*time.Minute {
		t.Errorf("lag %v, want 3m (snapshot to last entity applied)", s.Lag)
	}
	if c := s.LastCleanup; c == nil || c.Result != syncv1alpha1.CleanupGuardTripped || c.Deleted != 6 || !strings.Contains(c.Message, "dealers: would delete") {
		t.Errorf("lastCleanup %+v, want the tripped guard of dealers", c)
	}
	if len(s.Entities) != 2 || s.Entities[0].Name != "products" || s.Entities[0].Rows != 100 || s.Entities[0].Result != syncv1alpha1.RunSucceeded ||
		s.Entities[0].LastSyncedTime == nil || !s.Entities[0].LastSyncedTime.Time.Equal(snap) ||
		s.Entities[0].LastCleanup == nil || s.Entities[0].LastCleanup.Deleted != 2 ||
		s.Entities[1].LastCleanup == nil || s.Entities[1].LastCleanup.Result != syncv1alpha1.CleanupGuardTripped {
		t.Errorf("entities %+v", s.Entities)
	}
	if s.NextScheduleTime == nil || !s.NextScheduleTime.After(time.Now()) {
		t.Errorf("nextScheduleTime %v, want a future time", s.NextScheduleTime)
	}
	id := queue.PipelineID(ns, "erp")
	if lag := testutil.ToFloat64(pipelineLag.WithLabelValues(id)); lag != 180 {
		t.Errorf("sisporta_pipeline_lag_seconds %v, want 180", lag)
	}
	if ts := testutil.ToFloat64(lastSuccess.WithLabelValues(id)); ts != float64(snap.Unix()) {
		t.Errorf("last success snapshot metric %v, want %d", ts, snap.Unix())
	}
	waitEvent(t, ns, "erp", syncv1alpha1.EventRunStarted, "run "+run1.ID()+" started")
	waitEvent(t, ns, "erp", syncv1alpha1.EventRunSucceeded, "110 rows read")
	waitEvent(t, ns, "erp", syncv1alpha1.ReasonCleanupGuardTripped, "cleanup of entity dealers was refused")
	onlyOneWarning(t, ns, "erp", "cleanup of entity dealers")
	// A source login that can write is advice: a Warning event, the run's
	// warnings and Ready's message say so; nothing fails.
	waitEvent(t, ns, "erp", syncv1alpha1.EventSourceLoginCanWrite, canWrite)
	if len(s.LastRun.Warnings) != 1 || s.LastRun.Warnings[0] != canWrite {
		t.Errorf("lastRun.warnings %v", s.LastRun.Warnings)
	}
	if c := meta.FindStatusCondition(p.Status.Conditions, syncv1alpha1.ConditionReady); c == nil || !strings.Contains(c.Message, "warning: "+canWrite) {
		t.Errorf("Ready %+v does not carry the warning", c)
	}

	row := tableRow(t, ns, "erp")
	if row["Ready"] != "True" || row["Schedule"] != "*/15 * * * *" || row["Lag"] != "3m0s" || row["Queue"] != float64(0) || row["Workers"] != float64(0) {
		t.Errorf("kubectl get row %v", row)
	}
	if ls, _ := row["Last Sync"].(string); ls == "" {
		t.Errorf("LAST SYNC is empty: %v", row)
	}

	// Run 2 is in flight: Progressing, and Ready stays as run 1 left it.
	run2 := startRun(t, rdb, ns, "erp", time.Now().UTC().Truncate(time.Second))
	run2.extracted("products", 100)
	enqueue(t, rdb, ns, "erp", 1)
	poke(t, ns, "erp")
	p = waitCondition(t, ns, "erp", syncv1alpha1.ConditionProgressing, "True", syncv1alpha1.ReasonRunInProgress)
	eventually(t, "run 2 shows as running", func() error {
		p = getPipeline(t, ns, "erp")
		if p.Status.LastRun == nil || p.Status.LastRun.ID != run2.ID() || p.Status.LastRun.Result != syncv1alpha1.RunRunning {
			return errorf("lastRun %+v", p.Status.LastRun)
		}
		return nil
	})
	if err := conditionIs(p, syncv1alpha1.ConditionReady, "True", syncv1alpha1.ReasonSynced); err != nil {
		t.Errorf("a run in flight flipped Ready: %v", err)
	}
	if p.Status.LastSuccessfulRun.ID != run1.ID() {
		t.Errorf("lastSuccessfulRun %s, want run 1 until run 2 succeeds", p.Status.LastSuccessfulRun.ID)
	}

	// Run 2 fails for one entity: Ready=False, RunFailed.
	run2.final("products", runstate.Final{Result: syncv1alpha1.RunFailed, RowsRead: 100, Error: "target refused the batch: Error 1045: Access denied", EndTime: time.Now()})
	run2.final("dealers", runstate.Final{Result: syncv1alpha1.RunSucceeded, RowsRead: 10, EndTime: time.Now()})
	p = waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "False", syncv1alpha1.ReasonRunFailed)
	if c := findCondition(p, syncv1alpha1.ConditionReady); !strings.Contains(c.Message, "partially failed") || !strings.Contains(c.Message, "products") || !strings.Contains(c.Message, "Access denied") {
		t.Errorf("Ready message %q: want what failed and why", c.Message)
	}
	if p.Status.LastRun.Result != syncv1alpha1.RunPartiallyFailed || len(p.Status.LastRun.FailedEntities) != 1 {
		t.Errorf("lastRun %+v", p.Status.LastRun)
	}
	waitEvent(t, ns, "erp", syncv1alpha1.ReasonRunFailed, "run "+run2.ID()+" partially failed (entities [products])")
	onlyOneWarning(t, ns, "erp", "run "+run2.ID()+" ")

	// Run 3 succeeds: Ready again.
	run3 := startRun(t, rdb, ns, "erp", time.Now().UTC().Truncate(time.Second))
	run3.final("products", runstate.Final{Result: syncv1alpha1.RunSucceeded, RowsRead: 100, EndTime: time.Now()})
	run3.final("dealers", runstate.Final{Result: syncv1alpha1.RunSucceeded, RowsRead: 10, EndTime: time.Now()})
	poke(t, ns, "erp")
	p = waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", syncv1alpha1.ReasonSynced)
	if p.Status.LastSuccessfulRun.ID != run3.ID() {
		t.Errorf("lastSuccessfulRun %s, want run 3", p.Status.LastSuccessfulRun.ID)
	}
}

// TestStatusIsWrittenOnlyWhenItChanges: reconciling an unchanged pipeline
// leaves its resourceVersion alone.
func TestStatusIsWrittenOnlyWhenItChanges(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	// A yearly schedule: nextScheduleTime does not move during the test.
	createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) { p.Spec.Schedule = "@yearly" }))
	getObject(t, ns, "erp-worker", &appsv1.Deployment{})
	markRolledOut(t, ns, "erp-worker", 0)
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionProgressing, "False", syncv1alpha1.ReasonIdle)
	p := getPipeline(t, ns, "erp")
	// A label change is watched and does not touch the status; later
	// reconciles (the idle requeue) must leave the status alone too.
	before := p.Status.DeepCopy()
	update(t, p, func(p *syncv1alpha1.SyncPipeline) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		p.Labels["team"] = "sales"
	})
	labelled := getPipeline(t, ns, "erp").ResourceVersion
	waitReconciles(t, ns, "erp", 3)
	after := getPipeline(t, ns, "erp")
	if after.ResourceVersion != labelled {
		a, _ := json.Marshal(before)
		b, _ := json.Marshal(after.Status)
		t.Errorf("the status was rewritten without a change:\n%s\n%s", a, b)
	}
}

func findCondition(p *syncv1alpha1.SyncPipeline, typ string) *metav1.Condition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return &metav1.Condition{}
}

// tableRow is what `kubectl get syncpipeline` shows, by column name.
func tableRow(t *testing.T, ns, name string) map[string]any {
	t.Helper()
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(env.Config.Host, "/")+"/apis/sync.sisporta.io/v1alpha1/namespaces/"+ns+"/syncpipelines/"+name, nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil || len(table.Rows) != 1 {
		t.Fatalf("table: %v %s", err, raw)
	}
	row := map[string]any{}
	for i, c := range table.ColumnDefinitions {
		row[c.Name] = table.Rows[0].Cells[i]
	}
	return row
}

// TestScheduleTimesFollowTheCronJob: lastScheduleTime is the CronJob's,
// nextScheduleTime comes from the schedule in its time zone.
func TestScheduleTimesFollowTheCronJob(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Schedule = "30 2 * * *"
		p.Spec.TimeZone = ptr.To("Asia/Kolkata") // UTC+5:30, no daylight saving
	}))
	cj := getObject(t, ns, "erp-extract", &batchv1.CronJob{})
	last := metav1.NewTime(time.Now().Add(-5 * time.Minute).UTC().Truncate(time.Second))
	updateStatus(t, cj, func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &last })
	eventually(t, "schedule times in the status", func() error {
		s := getPipeline(t, ns, "erp").Status
		if s.LastScheduleTime == nil || !s.LastScheduleTime.Equal(&last) {
			return errorf("lastScheduleTime %v, want %s", s.LastScheduleTime, last)
		}
		if s.NextScheduleTime == nil {
			return errorf("no nextScheduleTime")
		}
		// 02:30 in Kolkata is 21:00 UTC, within the next day.
		next := s.NextScheduleTime.UTC()
		if next.Hour() != 21 || next.Minute() != 0 || !next.After(time.Now()) || next.After(time.Now().Add(24*time.Hour)) {
			return errorf("nextScheduleTime %s, want the next 21:00Z", next)
		}
		return nil
	})
}
