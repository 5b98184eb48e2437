//go:build tools

// Package tools pins golangci-lint, which make lint runs with ../../../.golangci.yml.
// It has a module of its own because its many dependencies (golang.org/x/tools,
// spf13/cobra and the linters') would otherwise change the versions of the
// Helm and controller-gen that ../go.mod pins for the tests.
package tools

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)
