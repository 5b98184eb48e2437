// Package runner is the data plane of Sisporta: it reads the source
// read-only, queues batches and applies them to the target. Its
// subpackages each have one job.
package runner
