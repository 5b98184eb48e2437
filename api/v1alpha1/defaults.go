package v1alpha1

import (
	"encoding/json"
	"fmt"
)

// Decode turns a SyncPipeline object (as read from YAML or JSON) into the
// typed form after filling what the API server's defaulting fills (the
// +kubebuilder:default markers), so that a manifest that never passes through
// an API server (`sisporta sync -f`) means what it would mean in a cluster.
// Defaults apply to absent fields only: an explicit 0 stays 0 and is then
// judged by Validate, as the API server would. A test keeps this in step
// with the markers.
func Decode(obj map[string]any) (*SyncPipeline, error) {
	applyDefaults(obj)
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var p SyncPipeline
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("not a SyncPipeline: %w", err)
	}
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	return &p, nil
}

// Defaults of the spec, one definition each. The +kubebuilder:default
// markers cannot name Go constants, so they repeat these values;
// TestCRDDefaultsAreTheConstants fails when the generated CRD differs.
const (
	DefaultTargetDriver                  = TargetMySQL
	DefaultMaxRetry                      = 12
	DefaultMinReplicas                   = 0
	DefaultMaxReplicas                   = 4
	DefaultTargetPendingPerReplica       = 50
	DefaultScaleDownStabilizationSeconds = 300
	DefaultConcurrency                   = 4
	DefaultBatchSize                     = 1000
	DefaultCleanupMode                   = CleanupDelete
	DefaultMaxDeletePercent              = 20
	DefaultLookbackSeconds               = 300
	// DefaultLockTimeoutSeconds has no marker: an absent value is read as it.
	DefaultLockTimeoutSeconds = 30
)

func applyDefaults(obj map[string]any) {
	spec := child(obj, "spec")
	if spec == nil {
		return
	}
	setDefault(child(spec, "target"), "driver", string(DefaultTargetDriver))
	setDefault(childOrNew(spec, "queue"), "maxRetry", int64(DefaultMaxRetry))
	w := childOrNew(spec, "workers")
	setDefault(w, "minReplicas", int64(DefaultMinReplicas))
	setDefault(w, "maxReplicas", int64(DefaultMaxReplicas))
	setDefault(w, "targetPendingPerReplica", int64(DefaultTargetPendingPerReplica))
	setDefault(w, "scaleDownStabilizationSeconds", int64(DefaultScaleDownStabilizationSeconds))
	setDefault(w, "concurrency", int64(DefaultConcurrency))
	setDefault(spec, "batchSize", int64(DefaultBatchSize))
	entities, _ := spec["entities"].([]any)
	for _, e := range entities {
		em, ok := e.(map[string]any)
		if !ok {
			continue
		}
		c := childOrNew(em, "cleanup")
		setDefault(c, "mode", string(DefaultCleanupMode))
		setDefault(c, "maxDeletePercent", int64(DefaultMaxDeletePercent))
		if src := child(em, "source"); src != nil {
			if cur := child(src, "cursor"); cur != nil {
				setDefault(cur, "lookbackSeconds", int64(DefaultLookbackSeconds))
			}
		}
	}
}

func child(m map[string]any, key string) map[string]any {
	if m == nil {
		return nil
	}
	c, _ := m[key].(map[string]any)
	return c
}

func childOrNew(m map[string]any, key string) map[string]any {
	if c := child(m, key); c != nil {
		return c
	}
	if _, present := m[key]; present && m[key] != nil {
		return nil // not an object: leave it for validation to refuse
	}
	c := map[string]any{}
	m[key] = c
	return c
}

func setDefault(m map[string]any, key string, v any) {
	if m == nil {
		return
	}
	if _, ok := m[key]; !ok {
		m[key] = v
	}
}

// TargetColumn is the target name of a mapped column.
func (c ColumnMapping) TargetColumn() Identifier {
	if c.Target != "" {
		return c.Target
	}
	return c.Source
}

// MaxDeletePercentOrDefault is the cleanup guard's threshold.
func (c CleanupSpec) MaxDeletePercentOrDefault() int32 {
	if c.MaxDeletePercent == nil {
		return DefaultMaxDeletePercent
	}
	return *c.MaxDeletePercent
}

// MaxRetryOrDefault is how often a batch is retried before it is archived.
func (q QueueSpec) MaxRetryOrDefault() int {
	if q.MaxRetry == nil {
		return DefaultMaxRetry
	}
	return int(*q.MaxRetry)
}

// LockTimeoutSecondsOrDefault bounds how long one SQL Server read waits for
// a lock.
func (s SourceSpec) LockTimeoutSecondsOrDefault() int32 {
	if s.LockTimeoutSeconds == nil {
		return DefaultLockTimeoutSeconds
	}
	return *s.LockTimeoutSeconds
}
