package controllers

import (
	"crypto/sha256"
	"encoding/hex"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// maxPipelineNameLength keeps derived names valid: Kubernetes limits
// CronJob names to 52 characters, and "-extract" takes 8 of them.
const maxPipelineNameLength = 52 - len("-extract")

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
		syncv1alpha1.LabelName:      syncv1alpha1.AppName,
		syncv1alpha1.LabelInstance:  p.Name,
		syncv1alpha1.LabelComponent: component,
	}
}

// objectLabels go on every object the operator creates; the manager's
// caches only hold objects carrying managed-by.
func objectLabels(p *syncv1alpha1.SyncPipeline, component string) map[string]string {
	l := selectorLabels(p, component)
	l[syncv1alpha1.LabelManagedBy] = syncv1alpha1.ManagedByOperator
	l[syncv1alpha1.LabelPipeline] = p.Name
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
