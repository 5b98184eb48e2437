// Package pipeline reads a SyncPipeline manifest from a file: the same YAML
// that is applied to a cluster, defaulted and validated as the API server
// would, and read as strictly as `kubectl apply` reads it (unknown fields and
// duplicate keys are errors that name their line).
package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

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
	p, err := parse(data, path)
	var located *lineErrors
	if err != nil && !errors.As(err, &located) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, err
}

// Parse reads a SyncPipeline from YAML or JSON.
func Parse(data []byte) (*syncv1alpha1.SyncPipeline, error) {
	return parse(data, "")
}

// parse reads the documents with go.yaml.in/yaml/v3, which keeps each
// key's line, checks the SyncPipeline's keys against the Go types, then
// decodes each document's values with sigs.k8s.io/yaml, as kubectl does
// (YAML 1.1: a bare Off is false there). Errors of the strict check are
// prefixed with file when it is given.
func parse(data []byte, file string) (*syncv1alpha1.SyncPipeline, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	var found []*syncv1alpha1.SyncPipeline
	for _, doc := range docs {
		obj, err := decode(doc)
		if err != nil {
			return nil, err
		}
		if obj == nil || obj["kind"] != "SyncPipeline" {
			continue
		}
		if av, _ := obj["apiVersion"].(string); av != syncv1alpha1.GroupVersion.String() {
			return nil, fmt.Errorf("apiVersion %q is not supported: use %s", av, syncv1alpha1.GroupVersion)
		}
		if errs := checkFields(doc); len(errs) > 0 {
			return nil, newLineErrors(file, errs)
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

// documents splits the file into YAML document nodes whose lines count
// from the top of the file. A file starting with '{' is a stream of JSON
// objects (JSON needs no "---" between them), each parsed as YAML, which
// JSON is.
func documents(data []byte) ([]*yaml.Node, error) {
	var docs []*yaml.Node
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
				return docs, nil
			} else if err != nil {
				return nil, fmt.Errorf("not valid JSON: %w", err)
			}
			start := int(dec.InputOffset()) - len(raw)
			var doc yaml.Node
			if err := yaml.Unmarshal(raw, &doc); err != nil {
				return nil, fmt.Errorf("not valid JSON: %w", err)
			}
			shiftLines(&doc, bytes.Count(data[:start], []byte("\n")))
			docs = append(docs, &doc)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return docs, nil
		} else if err != nil {
			return nil, fmt.Errorf("not valid YAML: %w", err)
		}
		docs = append(docs, &doc)
	}
}

func shiftLines(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}

// decode turns a document into the object kubectl would read from it: the
// node is written back as YAML (styles kept, so a bare Off stays bare) and
// read with sigs.k8s.io/yaml. An empty document is nil.
func decode(doc *yaml.Node) (map[string]any, error) {
	if len(doc.Content) == 0 {
		return nil, nil
	}
	if root := resolve(doc.Content[0]); root.Kind != yaml.MappingNode {
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			return nil, nil
		}
		return nil, fmt.Errorf("not valid YAML: the document at line %d is not a mapping of fields", root.Line)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	var obj map[string]any
	if err := sigsyaml.Unmarshal(out, &obj); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	return obj, nil
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
