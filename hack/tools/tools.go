//go:build tools

// Package tools pins the versions of the build tools (see Makefile): their
// dependencies live here, never in the operator's go.mod, so they cannot
// move the operator's Kubernetes libraries.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
