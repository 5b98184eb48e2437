package controllers

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/runstate"
)

// TestNoSecretValueLeaves: after a pipeline has been through a run-now, a
// failed run whose error echoes both DSNs, and an unreachable Redis whose
// URL carries a password, no object the operator wrote, no event and no
// log line holds a secret value. (TestMain checks the whole log again
// after every test.)
func TestNoSecretValueLeaves(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, _ := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	p := createPipeline(t, newPipeline(ns, "erp"))
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", "")

	setRunNow(t, p, "now")
	waitRunNowJob(t, p, "now")
	run := startRun(t, rdb, ns, "erp", time.Now())
	run.final("products", runstate.Final{Result: syncv1alpha1.RunFailed, EndTime: time.Now(),
		Error: "cannot connect with " + sourceDSN + " nor write with " + targetDSN})
	run.final("dealers", runstate.Final{Result: syncv1alpha1.RunFailed, EndTime: time.Now(), Error: "password " + targetPassword + " refused",
		Cleanup: &runstate.Cleanup{Time: time.Now(), Result: syncv1alpha1.CleanupFailed, Message: "lost " + sourceDSN}})
	poke(t, ns, "erp")
	p = waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "False", syncv1alpha1.ReasonRunFailed)
	waitEvent(t, ns, "erp", syncv1alpha1.ReasonRunFailed, "cannot connect")

	// Now a Redis whose URL has a password, and which does not answer.
	createSecret(t, ns, "redis", map[string]string{"url": badRedisURL})
	update(t, p, func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Queue.RedisSecretRef = &syncv1alpha1.SecretKeySelector{Name: "redis", Key: "url"}
	})
	// Within the outage grace period Ready keeps its value (RunFailed);
	// Degraded carries the Redis error.
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionDegraded, "True", syncv1alpha1.ReasonRedisUnreachable)
	waitEvent(t, ns, "erp", syncv1alpha1.ReasonRedisUnreachable, "127.0.0.1:1")

	var written []client.Object
	written = append(written, getPipeline(t, ns, "erp"))
	for _, list := range []client.ObjectList{&batchv1.CronJobList{}, &batchv1.JobList{}, &appsv1.DeploymentList{}, &corev1.ConfigMapList{}, &eventsv1.EventList{}} {
		if err := k8s().List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(list)
		if leaks := secretsIn(string(b)); len(leaks) > 0 {
			t.Errorf("%T holds secret values %v:\n%s", list, leaks, b)
		}
	}
	for _, o := range written {
		b, _ := json.Marshal(o)
		if leaks := secretsIn(string(b)); len(leaks) > 0 {
			t.Errorf("%T %s holds secret values %v:\n%s", o, o.GetName(), leaks, b)
		}
	}
	if leaks := secretsIn(managerLogs.String()); len(leaks) > 0 {
		t.Errorf("the manager logged secret values %v", leaks)
	}
	// The failure is still explained, with the values taken out.
	if msg := getPipeline(t, ns, "erp").Status.LastRun.Message; msg == "" {
		t.Error("the run's message was dropped instead of redacted")
	}
}
