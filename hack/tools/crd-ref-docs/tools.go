//go:build tools

// Package tools pins crd-ref-docs, which writes docs/api-reference.md from
// the SyncPipeline Go types (make api-docs). It has a module of its own
// because its dependencies (spf13/cast, dario.cat/mergo) are newer than
// Helm's: in ../go.mod they would change the Helm that the tests run.
package tools

import (
	_ "github.com/elastic/crd-ref-docs"
)
