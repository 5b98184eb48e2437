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

// PipelineID returns the "<namespace>/<name>" form used in target state tables
// and logs.
func PipelineID(namespace, name string) string {
	if namespace == "" {
		namespace = "default"
	}
	return namespace + "/" + name
}
