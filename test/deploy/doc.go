// Package deploy tests how Sisporta is shipped: the Helm chart (lint,
// rendering, values schema, every rendered object accepted by a real
// kube-apiserver), the config/ kustomizations and their consistency with
// the chart, the Argo CD health check and actions (Lua, run as Argo CD runs
// them), the Bitbucket pipeline, the Dockerfile and the GitOps bump script.
//
// The helm and kustomize-build binaries come from hack/tools; `make test`
// builds them and passes their paths in HELM and KUSTOMIZE_BUILD.
package deploy
