package controllers

import (
	"crypto/sha256"
	"encoding/hex"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// Labels and annotations the operator puts on what it creates.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelManagedBy = "app.kubernetes.io/managed-by"
	// LabelPipeline names the SyncPipeline an object belongs to; the Jobs a
	// CronJob creates inherit it, which is how the operator finds them.
	LabelPipeline = "sync.sisporta.io/pipeline"
	// LabelTrigger says what started an extraction Job: schedule or run-now.
	LabelTrigger = "sync.sisporta.io/trigger"

	// AnnotationRunNow on a SyncPipeline starts one run for each new value.
	AnnotationRunNow = "sync.sisporta.io/run-now"
	// annotationConfigHash on the worker pod template rolls the workers when
	// what they read at start changes.
	annotationConfigHash = "sync.sisporta.io/config-hash"
	// annotationSecretsVersion on the worker pod template rolls the workers
	// when a referenced Secret changes (env from Secrets is read at start).
	// It holds resourceVersions, never values.
	annotationSecretsVersion = "sync.sisporta.io/secrets-version"

	managedBy      = "sisporta-operator"
	finalizerPurge = "sync.sisporta.io/purge-queue"

	componentExtractor = "extractor"
	componentWorker    = "worker"
	componentConfig    = "config"

	triggerSchedule = "schedule"
	triggerRunNow   = "run-now"

	// maxPipelineNameLength keeps derived names valid: Kubernetes limits
	// CronJob names to 52 characters, and "-extract" takes 8 of them.
	maxPipelineNameLength = 52 - len("-extract")
)

// Names of the objects a pipeline owns.
func configMapName(p *syncv1alpha1.SyncPipeline) string { return p.Name + "-sisporta" }
func cronJobName(p *syncv1alpha1.SyncPipeline) string   { return p.Name + "-extract" }
func workerName(p *syncv1alpha1.SyncPipeline) string    { return p.Name + "-worker" }

// runNowJobName is derived from the annotation value, so a retried create
// of the same request finds the Job it already made.
func runNowJobName(p *syncv1alpha1.SyncPipeline, value string) string {
	return p.Name + "-now-" + shortHash(value)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:8]
}

// selectorLabels select a pipeline's pods of one component; they never
// change, as Deployment selectors are immutable.
func selectorLabels(p *syncv1alpha1.SyncPipeline, component string) map[string]string {
	return map[string]string{
		labelName:      "sisporta",
		labelInstance:  p.Name,
		labelComponent: component,
	}
}

// objectLabels go on every object the operator creates; the manager's
// caches only hold objects carrying managed-by.
func objectLabels(p *syncv1alpha1.SyncPipeline, component string) map[string]string {
	l := selectorLabels(p, component)
	l[labelManagedBy] = managedBy
	l[LabelPipeline] = p.Name
	return l
}

func objectMeta(p *syncv1alpha1.SyncPipeline, name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: objectLabels(p, component)}
}

// metaWithLabels copies labels into fresh metadata, so objects built from
// one label set never share a map.
func metaWithLabels(l map[string]string) metav1.ObjectMeta {
	c := make(map[string]string, len(l))
	for k, v := range l {
		c[k] = v
	}
	return metav1.ObjectMeta{Labels: c}
}
