//go:build tools

// Package tools pins the versions of the build tools (see Makefile).
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
