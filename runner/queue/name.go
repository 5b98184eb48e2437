// Package queue defines Sisporta's asynq tasks: their types, payloads, queue
// names, task IDs and retry policy.
package queue

// Name returns the asynq queue of a pipeline: "sisporta.<namespace>.<name>".
// Kubernetes names contain no dots in namespaces and may in names, which is
// harmless: the name is only ever compared whole.
func Name(namespace, name string) string {
	if namespace == "" {
		namespace = "default"
	}
	return "sisporta." + namespace + "." + name
}

// AsynqKeyPattern matches every Redis key asynq keeps for a queue (its
// layout since v0.18: asynq:{<queue>}:...).
func AsynqKeyPattern(queue string) string { return "asynq:{" + queue + "}:*" }

// AsynqPendingKey is the list of a queue's pending tasks.
func AsynqPendingKey(queue string) string { return "asynq:{" + queue + "}:pending" }

// PipelineID returns the "<namespace>/<name>" form used in target state tables
// and logs.
func PipelineID(namespace, name string) string {
	if namespace == "" {
		namespace = "default"
	}
	return namespace + "/" + name
}
