package v1alpha1

// Condition types of SyncPipeline status.conditions.
const (
	ConditionReady       = "Ready"
	ConditionProgressing = "Progressing"
	ConditionDegraded    = "Degraded"
)

// Condition reasons. They are part of the API: GitOps health checks
// (config/argocd/health.lua), alerts and scripts match on them, so renaming
// one is a breaking change. Problems set Degraded=True with their reason;
// those that keep the pipeline from producing a current mirror also set
// Ready=False. Runs in flight, scaling and rollouts only touch Progressing,
// so GitOps tools never see Ready flicker while a healthy pipeline works.
// Each problem reason is also the reason of the Warning event announcing it.
const (
	// Ready=False (and Degraded=True).
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonInvalidSchedule    = "InvalidSchedule"
	ReasonSecretMissing      = "SecretMissing"
	ReasonRedisNotConfigured = "RedisNotConfigured"
	ReasonInvalidRedisURL    = "InvalidRedisURL"
	ReasonRedisUnreachable   = "RedisUnreachable"
	ReasonNameConflict       = "NameConflict"
	ReasonExtractionFailed   = "ExtractionFailed"
	ReasonRunFailed          = "RunFailed"

	// Degraded=True, Ready unchanged.
	ReasonCleanupGuardTripped  = "CleanupGuardTripped"
	ReasonRunSummaryUnreadable = "RunSummaryUnreadable"
	ReasonDeadTasks            = "DeadTasks"
	ReasonWorkersUnavailable   = "WorkersUnavailable"

	// Ready=True.
	ReasonSynced           = "Synced"
	ReasonAwaitingFirstRun = "AwaitingFirstRun"
	ReasonSuspended        = "Suspended"

	// Progressing.
	ReasonRunInProgress = "RunInProgress"
	ReasonRollingOut    = "RollingOut"
	ReasonIdle          = "Idle"

	// Degraded=False.
	ReasonNoProblems = "NoProblems"
)

// ConditionReasons lists every condition reason above, for generated
// consumers such as the Argo CD health check (hack/manifestgen); a test
// keeps it complete.
var ConditionReasons = []string{
	ReasonInvalidSpec, ReasonInvalidSchedule, ReasonSecretMissing, ReasonRedisNotConfigured,
	ReasonInvalidRedisURL, ReasonRedisUnreachable, ReasonNameConflict, ReasonExtractionFailed, ReasonRunFailed,
	ReasonCleanupGuardTripped, ReasonRunSummaryUnreadable, ReasonDeadTasks, ReasonWorkersUnavailable,
	ReasonSynced, ReasonAwaitingFirstRun, ReasonSuspended,
	ReasonRunInProgress, ReasonRollingOut, ReasonIdle,
	ReasonNoProblems,
}

// ConditionTypes lists the condition types above.
var ConditionTypes = []string{ConditionReady, ConditionProgressing, ConditionDegraded}

// EventReportingController is the controller events on SyncPipelines are
// reported by (kubectl events shows it as their source).
const EventReportingController = "sisporta-operator"

// Reasons of the events the operator records on a SyncPipeline, besides
// the condition reasons of problems (each new problem is a Warning event
// with its condition reason).
const (
	// EventRecovered (Normal): the last problem went away.
	EventRecovered = "Recovered"
	// EventRunStarted (Normal): a run started reading the source.
	EventRunStarted = "RunStarted"
	// EventRunSucceeded (Normal): a run finished and succeeded. A run that
	// failed is told by the Warning event of the RunFailed problem.
	EventRunSucceeded = "RunSucceeded"
	// EventSourceLoginCanWrite (Warning): the source login could modify data.
	EventSourceLoginCanWrite = "SourceLoginCanWrite"
	// EventRowsRepaired (Warning): a verifying run rewrote rows that had
	// changed in the target behind Sisporta's back.
	EventRowsRepaired = "RowsRepaired"
	// EventRunNowStarted (Normal): the run-now annotation started a run.
	EventRunNowStarted = "RunNowStarted"
	// EventScaled (Normal): the workers were scaled.
	EventScaled = "Scaled"
	// EventQueuePurged (Normal) and EventQueueNotPurged (Warning): what
	// deleting the pipeline did to its queue in Redis.
	EventQueuePurged    = "QueuePurged"
	EventQueueNotPurged = "QueueNotPurged"
)
