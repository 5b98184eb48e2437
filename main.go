// Command sisporta is the one binary of Sisporta: the operator (manager), the
// extractor (extract), the worker (work), a local one-shot run (sync) and the
// dead-letter queue tools (dlq).
package main

import (
	"os"

	"github.com/sisporta/sisporta/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
