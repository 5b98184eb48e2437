// Package pipeline reads a SyncPipeline manifest from a file: the same YAML
// that is applied to a cluster, defaulted and validated as the API server
// would.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/util/yaml"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// Load reads the SyncPipeline in a YAML or JSON file. Other documents in
// the file (Secrets, say) are ignored; exactly one SyncPipeline must be
// there.
func Load(path string) (*syncv1alpha1.SyncPipeline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the pipeline file: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse reads a SyncPipeline from YAML or JSON.
func Parse(data []byte) (*syncv1alpha1.SyncPipeline, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var found []*syncv1alpha1.SyncPipeline
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("not valid YAML: %w", err)
		}
		if obj == nil || obj["kind"] != "SyncPipeline" {
			continue
		}
		if av, _ := obj["apiVersion"].(string); av != syncv1alpha1.GroupVersion.String() {
			return nil, fmt.Errorf("apiVersion %q is not supported: use %s", av, syncv1alpha1.GroupVersion)
		}
		if err := checkYAMLBooleans(obj); err != nil {
			return nil, err
		}
		p, err := syncv1alpha1.Decode(obj)
		if err != nil {
			return nil, err
		}
		found = append(found, p)
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no SyncPipeline in the file (want kind: SyncPipeline, apiVersion: %s)", syncv1alpha1.GroupVersion)
	case 1:
	default:
		return nil, fmt.Errorf("%d SyncPipelines in the file: give one", len(found))
	}
	p := found[0]
	if p.Name == "" {
		return nil, fmt.Errorf("the SyncPipeline has no metadata.name")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("the SyncPipeline is not valid:\n%w", err)
	}
	return p, nil
}

// checkYAMLBooleans catches the YAML 1.1 trap: a bare Off is read as the
// boolean false, so `mode: Off` would not mean the cleanup mode.
func checkYAMLBooleans(obj map[string]any) error {
	spec, _ := obj["spec"].(map[string]any)
	entities, _ := spec["entities"].([]any)
	for i, e := range entities {
		em, _ := e.(map[string]any)
		c, _ := em["cleanup"].(map[string]any)
		if b, ok := c["mode"].(bool); ok {
			return fmt.Errorf("spec.entities[%d].cleanup.mode is the boolean %v: write mode: \"Off\" in quotes (YAML reads a bare Off as false)", i, b)
		}
	}
	return nil
}
