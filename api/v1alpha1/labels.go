package v1alpha1

// Labels, annotations and finalizers that users and tools see: on
// SyncPipelines, and on the objects the operator creates for them (the
// chart's PodMonitor and NetworkPolicy select worker pods by these labels).
const (
	// Kubernetes' recommended labels, on every object the operator creates.
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"

	// LabelPipeline names the SyncPipeline an object belongs to; the Jobs a
	// CronJob creates inherit it, which is how the operator finds them.
	LabelPipeline = "sync.sisporta.io/pipeline"
	// LabelTrigger says what started an extraction Job (a Trigger value).
	LabelTrigger = "sync.sisporta.io/trigger"

	// AnnotationRunNow on a SyncPipeline starts one run for each new value;
	// status.lastHandledRunNow records the last value handled.
	AnnotationRunNow = "sync.sisporta.io/run-now"
	// AnnotationConfigHash on the worker pod template rolls the workers when
	// what they read at start changes.
	AnnotationConfigHash = "sync.sisporta.io/config-hash"
	// AnnotationSecretsVersion on the worker pod template rolls the workers
	// when a referenced Secret changes (env from Secrets is read at start).
	// It holds resourceVersions, never values.
	AnnotationSecretsVersion = "sync.sisporta.io/secrets-version"
	// AnnotationURLRevision on the namespace's copy of the default Redis URL
	// counts the changes of the URL: the workers roll when it changes.
	AnnotationURLRevision = "sync.sisporta.io/url-revision"

	// FinalizerPurgeQueue keeps a deleted SyncPipeline until its queue and
	// run summary are purged from Redis.
	FinalizerPurgeQueue = "sync.sisporta.io/purge-queue"
)

// Values of the recommended labels on what the operator creates.
const (
	// AppName is the value of LabelName.
	AppName = "sisporta"
	// ManagedByOperator is the value of LabelManagedBy; the operator's
	// caches hold only objects carrying it.
	ManagedByOperator = "sisporta-operator"

	// Values of LabelComponent.
	ComponentExtractor    = "extractor"
	ComponentWorker       = "worker"
	ComponentConfig       = "config"
	ComponentDefaultRedis = "default-redis"
)

// Triggers say what started a run: the value of LabelTrigger on extraction
// Jobs, and of the trigger the run summary records and events show.
const (
	TriggerSchedule = "schedule"
	TriggerRunNow   = "run-now"
	// TriggerSync is a run of `sisporta sync`.
	TriggerSync = "sync"
)
