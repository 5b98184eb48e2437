// Command kustomize-build renders a kustomization directory to stdout, like
// `kustomize build DIR`, with the kustomize library that kubectl itself
// embeds. The tests use it to check config/ against the API server and the
// Helm chart without a kubectl or kustomize binary on the machine.
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kustomize-build DIR   (renders the kustomization in DIR to stdout)")
		os.Exit(2)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "kustomize-build: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	out, err := res.AsYaml()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kustomize-build: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
