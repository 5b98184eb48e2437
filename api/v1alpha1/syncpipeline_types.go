package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Identifier is a table or column name. Sisporta quotes identifiers itself, so
// they may contain dots (schema.table), spaces and reserved words, but nothing
// that could end a quoted identifier or a statement.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\x00-\\\\x1f\\\\x7f\"\\'`;\\\\[\\\\]\\\\\\\\]')",message="must not contain quotes, backticks, brackets, backslashes, semicolons or control characters: write the plain name (Sisporta quotes identifiers itself), e.g. dbo.Products or order"
type Identifier string

// SecretKeySelector names one key of a Secret in the pipeline's namespace.
type SecretKeySelector struct {
	// Name of the Secret, in the pipeline's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="must be a Secret name: lower-case letters, digits, '-' and '.'"
	Name string `json:"name"`
	// Key within the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-._a-zA-Z0-9]+$')",message="must be a Secret key: letters, digits, '-', '_' and '.'"
	Key string `json:"key"`
}

// SourceDriver names the dialect of the source database.
// +kubebuilder:validation:Enum=sqlserver;mysql
type SourceDriver string

const (
	// SourceSQLServer reads Microsoft SQL Server through github.com/microsoft/go-mssqldb.
	SourceSQLServer SourceDriver = "sqlserver"
	// SourceMySQL reads MySQL or MariaDB through github.com/go-sql-driver/mysql.
	SourceMySQL SourceDriver = "mysql"
)

// TargetDriver names the dialect of the target database.
// +kubebuilder:validation:Enum=mysql
type TargetDriver string

// TargetMySQL writes MySQL 8 or MariaDB 10.6+.
const TargetMySQL TargetDriver = "mysql"

// SourceSpec is the database Sisporta reads, read-only, never writing to it.
// +kubebuilder:validation:XValidation:rule="!has(self.isolation) || self.isolation != 'Snapshot' || self.driver == 'sqlserver'",message="source.isolation Snapshot is for SQL Server sources; MySQL sources always read a consistent snapshot: remove it"
type SourceSpec struct {
	// Driver of the source database.
	Driver SourceDriver `json:"driver"`
	// DSNSecretRef points at the key of a Secret holding the source DSN in
	// the driver's native form (sqlserver://user:pass@host?database=ERP or
	// user:pass@tcp(host:3306)/erp). Use a login that can only read.
	DSNSecretRef SecretKeySelector `json:"dsnSecretRef"`
	// Isolation is how SQL Server reads: ReadCommitted (the default) takes
	// shared locks and waits behind writers; Snapshot reads the last
	// committed version without waiting and needs ALLOW_SNAPSHOT_ISOLATION
	// ON in the database. MySQL sources always read a consistent snapshot.
	// +kubebuilder:validation:Enum=ReadCommitted;Snapshot
	// +optional
	Isolation SourceIsolation `json:"isolation,omitempty"`
	// LockTimeoutSeconds bounds how long one SQL Server read waits for a
	// lock an ERP transaction holds (default 30); the read is then retried,
	// a few times, before the run fails.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	// +optional
	LockTimeoutSeconds *int32 `json:"lockTimeoutSeconds,omitempty"`
	// AllowWritableLogin lets Sisporta read SQL Server through a login that
	// may modify data. SQL Server has no read-only transactions, so a login
	// that can only read is the guard; without this, such a login is refused.
	// +optional
	AllowWritableLogin bool `json:"allowWritableLogin,omitempty"`
}

// SourceIsolation is the isolation level SQL Server reads at.
type SourceIsolation string

// Isolation levels.
const (
	IsolationReadCommitted SourceIsolation = "ReadCommitted"
	IsolationSnapshot      SourceIsolation = "Snapshot"
)

// TargetSpec is the MySQL database Sisporta keeps as a mirror.
type TargetSpec struct {
	// Driver of the target database.
	// +kubebuilder:default=mysql
	Driver TargetDriver `json:"driver,omitempty"`
	// DSNSecretRef points at the key of a Secret holding the target DSN
	// (user:pass@tcp(host:3306)/mirror).
	DSNSecretRef SecretKeySelector `json:"dsnSecretRef"`
}

// QueueSpec says which Redis carries the pipeline's batches.
type QueueSpec struct {
	// RedisSecretRef points at a Secret key holding a Redis URL
	// (redis://:password@host:6379/0). Without it the operator's default
	// Redis is used.
	// +optional
	RedisSecretRef *SecretKeySelector `json:"redisSecretRef,omitempty"`
	// MaxRetry is how often a failing batch is retried, with exponential
	// backoff, before it is archived in the dead-letter queue.
	// +kubebuilder:default=12
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxRetry *int32 `json:"maxRetry,omitempty"`
}

// WorkersSpec bounds the worker Deployment that the operator scales from
// queue depth.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",message="workers.minReplicas must not be greater than workers.maxReplicas"
type WorkersSpec struct {
	// MinReplicas is the number of workers kept when the queue is empty; 0
	// scales the workers to zero between runs.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MinReplicas int32 `json:"minReplicas,omitempty"`
	// MaxReplicas caps the workers however deep the queue is.
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxReplicas int32 `json:"maxReplicas,omitempty"`
	// TargetPendingPerReplica is how many pending batches one worker is
	// expected to handle: desired = ceil(pending / targetPendingPerReplica).
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +optional
	TargetPendingPerReplica int32 `json:"targetPendingPerReplica,omitempty"`
	// ScaleDownStabilizationSeconds is how long the queue must stay shallow
	// before workers are removed (scaling up is immediate).
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +optional
	ScaleDownStabilizationSeconds int32 `json:"scaleDownStabilizationSeconds,omitempty"`
	// Concurrency is how many batches one worker applies at once.
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	// +optional
	Concurrency int32 `json:"concurrency,omitempty"`
}

// RunnerResources sets compute resources of the pods the operator creates.
type RunnerResources struct {
	// Extractor is for the CronJob's pods.
	// +optional
	Extractor corev1.ResourceRequirements `json:"extractor,omitempty"`
	// Worker is for the worker Deployment's pods.
	// +optional
	Worker corev1.ResourceRequirements `json:"worker,omitempty"`
}

// CursorKind says how an incremental entity finds changed rows.
// +kubebuilder:validation:Enum=RowVersion;UpdatedAt
type CursorKind string

const (
	// CursorRowVersion reads rows whose SQL Server rowversion is past the
	// last applied one, capped at MIN_ACTIVE_ROWVERSION().
	CursorRowVersion CursorKind = "RowVersion"
	// CursorUpdatedAt reads rows whose updated-at column is past the last
	// applied snapshot time, minus a look-back window.
	CursorUpdatedAt CursorKind = "UpdatedAt"
)

// CursorSpec makes an entity incremental: each run reads only rows changed
// since the last complete run; deletes are found by a key-only scan.
type CursorSpec struct {
	// Column holding the rowversion or updated-at value.
	Column Identifier `json:"column"`
	// Kind of the cursor column.
	Kind CursorKind `json:"kind"`
	// LookbackSeconds re-reads this much before the stored UpdatedAt cursor,
	// for rows committed late with an earlier timestamp (rewrites are free:
	// unchanged rows are not written).
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=0
	// +optional
	LookbackSeconds int32 `json:"lookbackSeconds,omitempty"`
}

// EntitySource says where an entity's rows come from.
// +kubebuilder:validation:XValidation:rule="has(self.table) != has(self.query)",message="set exactly one of source.table or source.query"
// +kubebuilder:validation:XValidation:rule="!has(self.query) || size(self.keyColumns) > 0",message="source.query needs source.keyColumns: a query has no primary key to discover"
type EntitySource struct {
	// Table to read, optionally schema-qualified (dbo.Products).
	// +optional
	Table Identifier `json:"table,omitempty"`
	// Query is a SELECT whose result is read instead of a table; it runs as
	// a derived table, so it cannot be anything but a read: outside quotes,
	// comments, ';', INTO and unbalanced parentheses are refused, in the
	// source's dialect, by the operator (reason InvalidSpec) and `sisporta
	// sync`; the API server only checks that it starts with SELECT or WITH.
	// +kubebuilder:validation:MaxLength=16384
	// +kubebuilder:validation:XValidation:rule="self.matches('^[\\\\t\\\\n\\\\v\\\\f\\\\r (]*(?i:select|with)([^A-Za-z0-9_$]|$)')",message="source.query must start with SELECT (or WITH … SELECT on MySQL): it is read as a derived table"
	// +optional
	Query string `json:"query,omitempty"`
	// KeyColumns identify a row and set the read order; empty means the
	// table's primary key, discovered from the catalog.
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	// +optional
	KeyColumns []Identifier `json:"keyColumns,omitempty"`
	// Where filters the rows to mirror (a boolean SQL expression in the
	// source's dialect). Rows that stop matching are removed from the target
	// like deleted rows. Outside quotes, comments, ';', INTO and unbalanced
	// parentheses are refused, in the source's dialect, by the operator
	// (reason InvalidSpec) and `sisporta sync` (the API server cannot
	// tell v <> 'a;b' from a second statement).
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Where string `json:"where,omitempty"`
	// Cursor makes the entity incremental.
	// +optional
	Cursor *CursorSpec `json:"cursor,omitempty"`
}

// EntityTarget says where an entity's rows go.
type EntityTarget struct {
	// Table in the target database; created from the source schema when
	// missing. Names starting with _sisporta_ are Sisporta's own.
	// +kubebuilder:validation:XValidation:rule="!self.lowerAscii().matches('(^|[.])_sisporta_')",message="target table names starting with _sisporta_ belong to Sisporta's own state tables: choose another name"
	Table Identifier `json:"table"`
	// TakeOverFrom hands the target table to this entity when another
	// pipeline's entity owns it (it mirrored the table first): give the
	// owner as "<namespace>/<pipeline>/<entity>", as the refusal message
	// names it. Only that owner is replaced, so two pipelines can never take
	// a table from each other in turns; make sure the old owner stopped.
	// +kubebuilder:validation:MaxLength=400
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^/]+/[^/]+/[^/]+$')",message="takeOverFrom names the current owner as <namespace>/<pipeline>/<entity>, e.g. sales/erp-to-quotes/products"
	// +optional
	TakeOverFrom string `json:"takeOverFrom,omitempty"`
}

// ColumnMapping copies one source column into one target column.
// +kubebuilder:validation:XValidation:rule="!(has(self.target) ? self.target : self.source).lowerAscii().startsWith('_sisporta_')",message="target column names starting with _sisporta_ belong to Sisporta (_sisporta_hash, _sisporta_deleted_at): map the column to another target name"
type ColumnMapping struct {
	// Source column name.
	Source Identifier `json:"source"`
	// Target column name; defaults to the source name.
	// +optional
	Target Identifier `json:"target,omitempty"`
}

// CleanupMode says what happens to target rows that left the source.
// +kubebuilder:validation:Enum=Delete;SoftDelete;Off
type CleanupMode string

const (
	// CleanupDelete deletes vanished rows.
	CleanupDelete CleanupMode = "Delete"
	// CleanupSoftDelete sets _sisporta_deleted_at on vanished rows.
	CleanupSoftDelete CleanupMode = "SoftDelete"
	// CleanupOff keeps vanished rows.
	CleanupOff CleanupMode = "Off"
)

// CleanupSpec governs the removal of target rows that no longer exist in the
// source. It runs only after a complete run, behind guards.
type CleanupSpec struct {
	// Mode of cleanup.
	// +kubebuilder:default=Delete
	// +optional
	Mode CleanupMode `json:"mode,omitempty"`
	// MaxDeletePercent refuses a cleanup that would remove more than this
	// share of the target table.
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxDeletePercent *int32 `json:"maxDeletePercent,omitempty"`
	// DryRun counts what would be removed and removes nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// EntitySpec is one table to mirror.
type EntitySpec struct {
	// Name of the entity, unique in the pipeline (a DNS label).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="entity name must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit"
	Name string `json:"name"`
	// Source of the rows.
	Source EntitySource `json:"source"`
	// Target of the rows.
	Target EntityTarget `json:"target"`
	// Columns to copy; empty copies every source column under its own name.
	// +kubebuilder:validation:MaxItems=128
	// +listType=atomic
	// +optional
	Columns []ColumnMapping `json:"columns,omitempty"`
	// Cleanup of rows that left the source.
	// +kubebuilder:default={}
	// +optional
	Cleanup CleanupSpec `json:"cleanup,omitempty"`
}

// VerifySpec schedules verifying runs. A normal run trusts the row hash
// stored beside each target row; a verifying run recomputes every target
// row's hash from its values and rewrites the rows that differ from the
// source (edited by hand, or damaged), counting them as rowsRepaired. It
// reads every row of both sides, incremental entities included. A run
// verifies when either condition holds, and the first run of a pipeline
// does.
type VerifySpec struct {
	// EveryRuns verifies every Nth run.
	// +kubebuilder:validation:Minimum=1
	// +optional
	EveryRuns *int32 `json:"everyRuns,omitempty"`
	// Interval verifies a run when the last verifying run started at least
	// this long ago (a Go duration such as 24h).
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// SyncPipelineSpec declares a source, a target, a schedule and the entities
// to mirror.
// +kubebuilder:validation:XValidation:rule="self.source.driver == 'sqlserver' || self.entities.all(e, !has(e.source.cursor) || e.source.cursor.kind != 'RowVersion')",message="cursor kind RowVersion needs source.driver sqlserver; use UpdatedAt for MySQL sources"
type SyncPipelineSpec struct {
	// Schedule of the extractor in cron format.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^\\\\s]+( +[^\\\\s]+){4})$')",message="schedule must be a cron expression of five fields (minute hour day-of-month month day-of-week), e.g. \"*/15 * * * *\", or a macro such as @hourly; set the zone in timeZone, not in the schedule"
	Schedule string `json:"schedule"`
	// TimeZone of the schedule, an IANA name such as Europe/Lisbon; the
	// controller-manager's zone when empty.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	TimeZone *string `json:"timeZone,omitempty"`
	// Suspend stops new runs; workers drain to minReplicas.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// Source database, read-only.
	Source SourceSpec `json:"source"`
	// Target database.
	Target TargetSpec `json:"target"`
	// Queue between extractor and workers.
	// +kubebuilder:default={}
	// +optional
	Queue QueueSpec `json:"queue,omitempty"`
	// Workers scaling.
	// +kubebuilder:default={}
	// +optional
	Workers WorkersSpec `json:"workers,omitempty"`
	// BatchSize is the number of rows in one queued batch.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50000
	// +optional
	BatchSize int32 `json:"batchSize,omitempty"`
	// Image of the extractor and workers; the operator's own image when empty.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`
	// Resources of the extractor and worker pods.
	// +optional
	Resources RunnerResources `json:"resources,omitempty"`
	// Verify schedules runs that check every target row against the source
	// instead of trusting stored row hashes; without it, no scheduled run
	// verifies (`sisporta sync --verify` does on demand).
	// +optional
	Verify *VerifySpec `json:"verify,omitempty"`
	// Entities are the tables to mirror.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(e, self.exists_one(f, f.name == e.name))",message="entity names must be unique"
	// +kubebuilder:validation:XValidation:rule="self.all(e, self.exists_one(f, f.target.table == e.target.table))",message="target tables must be unique across entities: two entities writing one table would delete each other's rows"
	// +listType=atomic
	Entities []EntitySpec `json:"entities"`
}

// RunResult is the outcome of a run.
type RunResult string

// Run results, of a run and of an entity within it. The workers record
// them in the run summary and the operator copies them into the status.
const (
	RunRunning   RunResult = "Running"
	RunSucceeded RunResult = "Succeeded"
	// RunFailed: every entity failed (of a run), or the entity failed.
	RunFailed RunResult = "Failed"
	// RunPartiallyFailed: some entities of the run failed, not all.
	RunPartiallyFailed RunResult = "PartiallyFailed"
	// RunSuperseded: a newer run overtook the entity's run before it
	// finished, and covers its rows (`sisporta sync` reports its whole run
	// so when it succeeded only thanks to a newer one).
	RunSuperseded RunResult = "Superseded"
)

// RunStatus summarises one run of the pipeline.
type RunStatus struct {
	// ID of the run.
	ID string `json:"id"`
	// SourceSnapshotTime is when the extractor started reading the source:
	// the target reflects the source as of this time.
	// +optional
	SourceSnapshotTime *metav1.Time `json:"sourceSnapshotTime,omitempty"`
	// StartTime of the run.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime is when the last entity was applied and cleaned up.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Result of the run.
	// +optional
	Result RunResult `json:"result,omitempty"`
	// RowsRead from the source.
	RowsRead int64 `json:"rowsRead"`
	// RowsWritten to the target (inserted or changed).
	RowsWritten int64 `json:"rowsWritten"`
	// RowsUnchanged were already equal in the target and not written.
	RowsUnchanged int64 `json:"rowsUnchanged"`
	// RowsDeleted from the target by cleanup.
	RowsDeleted int64 `json:"rowsDeleted"`
	// RowsRepaired were rewritten by a verifying run because their values
	// no longer matched the source although their stored hash did (edited
	// in the target by hand, or damaged). They are counted in rowsWritten
	// too.
	// +optional
	RowsRepaired int64 `json:"rowsRepaired,omitempty"`
	// Verified is true for a run that checked every target row's values.
	// +optional
	Verified bool `json:"verified,omitempty"`
	// FailedEntities names the entities that failed.
	// +listType=atomic
	// +optional
	FailedEntities []string `json:"failedEntities,omitempty"`
	// Message tells what went wrong, if anything.
	// +optional
	Message string `json:"message,omitempty"`
	// Warnings are advice found when the run started, such as a source
	// login that can modify data; the run did not fail because of them.
	// +listType=atomic
	// +optional
	Warnings []string `json:"warnings,omitempty"`
}

// QueueStatus counts the pipeline's tasks in Redis.
type QueueStatus struct {
	Pending int64 `json:"pending"`
	Active  int64 `json:"active"`
	// Scheduled are tasks waiting for their time, such as a finalize step
	// waiting for batches.
	Scheduled int64 `json:"scheduled"`
	Retry     int64 `json:"retry"`
	// Dead are archived tasks (the dead-letter queue): `sisporta dlq` lists,
	// retries and purges them.
	Dead int64 `json:"dead"`
	// LatencySeconds is the age of the oldest pending task.
	LatencySeconds int64 `json:"latencySeconds"`
}

// WorkersStatus shows the worker Deployment.
type WorkersStatus struct {
	// Desired replicas chosen from queue depth.
	Desired int32 `json:"desired"`
	// Ready replicas.
	Ready int32 `json:"ready"`
}

// CleanupResult is the outcome of a cleanup.
// +kubebuilder:validation:Enum=Succeeded;Skipped;GuardTripped;DryRun;Failed
type CleanupResult string

// Cleanup results.
const (
	CleanupSucceeded    CleanupResult = "Succeeded"
	CleanupSkipped      CleanupResult = "Skipped"
	CleanupGuardTripped CleanupResult = "GuardTripped"
	CleanupDryRun       CleanupResult = "DryRun"
	CleanupFailed       CleanupResult = "Failed"
)

// CleanupStatus reports a cleanup.
type CleanupStatus struct {
	// Time the cleanup ran.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
	// Result of the cleanup.
	Result CleanupResult `json:"result"`
	// Deleted rows (or, for DryRun and GuardTripped, rows that would have been).
	Deleted int64 `json:"deleted"`
	// Message says why a cleanup was skipped or refused.
	// +optional
	Message string `json:"message,omitempty"`
}

// EntityStatus reports one entity.
type EntityStatus struct {
	// Name of the entity.
	Name string `json:"name"`
	// Rows read from the source in the last run.
	Rows int64 `json:"rows"`
	// LastSyncedTime is the source snapshot time of the entity's last
	// successful run.
	// +optional
	LastSyncedTime *metav1.Time `json:"lastSyncedTime,omitempty"`
	// Result of the entity in the last run.
	// +optional
	Result RunResult `json:"result,omitempty"`
	// Message tells what went wrong, if anything.
	// +optional
	Message string `json:"message,omitempty"`
	// LastCleanup of the entity.
	// +optional
	LastCleanup *CleanupStatus `json:"lastCleanup,omitempty"`
}

// SyncPipelineStatus is written by the operator alone.
type SyncPipelineStatus struct {
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions Ready, Progressing and Degraded.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastScheduleTime is when the CronJob last started a run.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// NextScheduleTime is when the next scheduled run starts.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// LastRun is the newest run, finished or not.
	// +optional
	LastRun *RunStatus `json:"lastRun,omitempty"`
	// LastSuccessfulRun is the newest run that succeeded.
	// +optional
	LastSuccessfulRun *RunStatus `json:"lastSuccessfulRun,omitempty"`
	// Lag is the time from source snapshot to applied target of the last
	// complete run.
	// +optional
	Lag *metav1.Duration `json:"lag,omitempty"`
	// Queue counts the pipeline's tasks.
	// +optional
	Queue *QueueStatus `json:"queue,omitempty"`
	// Workers shows desired and ready workers.
	// +optional
	Workers *WorkersStatus `json:"workers,omitempty"`
	// LastCleanup summarises the cleanups of the last complete run.
	// +optional
	LastCleanup *CleanupStatus `json:"lastCleanup,omitempty"`
	// Entities reports each entity.
	// +listType=map
	// +listMapKey=name
	// +optional
	Entities []EntityStatus `json:"entities,omitempty"`
	// LastHandledRunNow is the last value of the run-now annotation that
	// started a run; the same value never starts a second one.
	// +optional
	LastHandledRunNow string `json:"lastHandledRunNow,omitempty"`
	// ScaleDownSince is when the queue first allowed fewer workers; the
	// operator scales down once the stabilisation window has passed.
	// +optional
	ScaleDownSince *metav1.Time `json:"scaleDownSince,omitempty"`
}

// SyncPipeline keeps MySQL tables a mirror of tables of a read-only source.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sp;syncpipe,categories=sisporta
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSuccessfulRun.sourceSnapshotTime`
// +kubebuilder:printcolumn:name="Lag",type=string,JSONPath=`.status.lag`
// +kubebuilder:printcolumn:name="Queue",type=integer,JSONPath=`.status.queue.pending`
// +kubebuilder:printcolumn:name="Workers",type=integer,JSONPath=`.status.workers.ready`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
type SyncPipeline struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SyncPipelineSpec   `json:"spec,omitempty"`
	Status SyncPipelineStatus `json:"status,omitempty"`
}

// SyncPipelineList is a list of SyncPipelines.
//
// +kubebuilder:object:root=true
type SyncPipelineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SyncPipeline `json:"items"`
}
