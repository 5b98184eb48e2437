// Package e2e runs Sisporta end to end on a real single-node Kubernetes
// (hack/cluster.sh): the chart installed with Helm, the operator, its
// CronJobs and its workers as real pods, against MariaDB and Redis on this
// machine, as a platform team would use it. The tests carry the build tag
// e2e and need root:
//
//	make e2e
//
// The suite brings the cluster up (or reuses a running one), builds the
// image with `make image` and loads it, and takes down at the end a cluster
// it started (E2E_KEEP_CLUSTER=1 keeps it). It fails, never skips, when it
// cannot run.
package e2e
