package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// Where the extractor and workers find the pipeline.
const (
	configKey       = "pipeline.yaml"
	configMountPath = "/etc/sisporta"
	configPath      = configMountPath + "/" + configKey
)

// pipelineConfig is what the extractor and workers read: the pipeline as a
// manifest, holding Secret references only, never their values.
type pipelineConfig struct {
	APIVersion string                        `json:"apiVersion"`
	Kind       string                        `json:"kind"`
	Metadata   pipelineConfigMeta            `json:"metadata"`
	Spec       syncv1alpha1.SyncPipelineSpec `json:"spec"`
}

type pipelineConfigMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

const configHeader = "# Rendered by the Sisporta operator from the SyncPipeline; edits here are overwritten.\n"

func renderPipelineConfig(p *syncv1alpha1.SyncPipeline) (string, error) {
	b, err := yaml.Marshal(pipelineConfig{
		APIVersion: syncv1alpha1.GroupVersion.String(),
		Kind:       "SyncPipeline",
		Metadata:   pipelineConfigMeta{Name: p.Name, Namespace: p.Namespace},
		Spec:       p.Spec,
	})
	return configHeader + string(b), err
}

// workerConfigHash changes when what a worker reads at start changes. Fields
// that only the operator or the CronJob use (schedule, suspend, scaling
// bounds) are left out so that changing them does not restart workers in
// the middle of a run.
func workerConfigHash(p *syncv1alpha1.SyncPipeline) string {
	spec := p.Spec.DeepCopy()
	spec.Schedule, spec.TimeZone, spec.Suspend = "", nil, false
	concurrency := spec.Workers.Concurrency
	spec.Workers = syncv1alpha1.WorkersSpec{Concurrency: concurrency}
	spec.Image, spec.Resources = "", syncv1alpha1.RunnerResources{}
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// reconcileConfig keeps the ConfigMap <pipeline>-sisporta holding the
// rendered pipeline.
func (r *Reconciler) reconcileConfig(ctx context.Context, st *pipelineState) error {
	doc, err := renderPipelineConfig(st.p)
	if err != nil {
		return err
	}
	want := &corev1.ConfigMap{
		ObjectMeta: objectMeta(st.p, configMapName(st.p), syncv1alpha1.ComponentConfig),
		Data:       map[string]string{configKey: doc},
	}
	_, err = ensureObject(ctx, r, st, "ConfigMap", want, func() *corev1.ConfigMap { return &corev1.ConfigMap{} },
		func(live *corev1.ConfigMap) bool {
			return equality.Semantic.DeepEqual(live.Data, want.Data) && len(live.BinaryData) == 0
		},
		func(live *corev1.ConfigMap) { live.Data, live.BinaryData = want.Data, nil })
	if err != nil {
		return err
	}
	st.configHash = workerConfigHash(st.p)
	return nil
}
