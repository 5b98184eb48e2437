// Package testenv is the environment Sisporta's tests run in: real
// services, no mocks. It is the one place tests get them from:
//
//   - Kubernetes (kube.go): Start and Main run a real kube-apiserver and etcd
//     (envtest) with the SyncPipeline CRD installed; the binaries come from
//     hack/envtest-assets.sh, which builds them from Go module sources once
//     per machine (KUBEBUILDER_ASSETS skips that lookup). RepoRoot finds the
//     repository for tests that read its files.
//   - MySQL/MariaDB and Redis (services.go): NewDB gives a test a database
//     of its own, dropped at the end; RedisURL names the Redis; Pipeline
//     parses a pipeline manifest under a name (so a queue) of the test's
//     own. Tests on them run in parallel against the shared services.
//   - Proxy (proxy.go) puts a TCP proxy in front of a server that a test
//     can take down and bring back, and that can record the SQL a client
//     sends.
package testenv
