package pipeline

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// lineError is a problem at one line of the file.
type lineError struct {
	line int
	msg  string
}

// lineErrors are the unknown fields and duplicate keys of a SyncPipeline,
// each naming its line (and the file, when known), as `kubectl apply`
// reports them with strict field validation.
type lineErrors struct {
	file string
	errs []lineError
}

func newLineErrors(file string, errs []lineError) *lineErrors {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].line < errs[j].line })
	return &lineErrors{file: file, errs: errs}
}

func (e *lineErrors) Error() string {
	var b strings.Builder
	for i, le := range e.errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.file != "" {
			b.WriteString(e.file + ": ")
		}
		fmt.Fprintf(&b, "line %d: %s", le.line, le.msg)
	}
	return b.String()
}

// checkFields walks a SyncPipeline document beside the Go type it decodes
// into, by json tags, and returns every key that names no field (with the
// closest field name, when one is close) and every key given twice in one
// mapping. Maps (labels, resource lists) take any key; types that decode
// themselves (times, quantities, durations) are leaves.
func checkFields(doc *yaml.Node) []lineError {
	c := &fieldChecker{seen: map[lineError]bool{}}
	for _, n := range doc.Content {
		c.walk(n, reflect.TypeFor[syncv1alpha1.SyncPipeline](), "")
	}
	return c.errs
}

type fieldChecker struct {
	errs []lineError
	seen map[lineError]bool // an anchor used twice is reported once
}

func (c *fieldChecker) add(line int, format string, args ...any) {
	e := lineError{line: line, msg: fmt.Sprintf(format, args...)}
	if !c.seen[e] {
		c.seen[e] = true
		c.errs = append(c.errs, e)
	}
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// leaf says whether t decodes itself (or is a scalar): its YAML is not
// checked against fields.
func leaf(t reflect.Type) bool {
	if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array:
		return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 // []byte is a base64 string
	}
	return true
}

// yaml11Booleans are the words YAML 1.1 (sigs.k8s.io/yaml, kubectl) reads
// as booleans when they stand bare.
var yaml11Booleans = map[string]bool{}

func init() {
	for _, w := range []string{"y", "yes", "n", "no", "true", "false", "on", "off"} {
		for _, v := range []string{w, strings.ToUpper(w), strings.ToUpper(w[:1]) + w[1:]} {
			yaml11Booleans[v] = true
		}
	}
}

func (c *fieldChecker) walk(n *yaml.Node, t reflect.Type, path string) {
	n = resolve(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n == nil {
		return
	}
	if t.Kind() == reflect.String && n.Kind == yaml.ScalarNode && n.Style == 0 && yaml11Booleans[n.Value] {
		key := path[strings.LastIndexByte(path, '.')+1:]
		c.add(n.Line, "%s: the bare word %s is a boolean to kubectl and Kubernetes (YAML 1.1), not the text %q: write %s: \"%s\" in quotes", path, n.Value, n.Value, key, n.Value)
		return
	}
	if leaf(t) || t.Kind() == reflect.Interface {
		c.duplicates(n, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			break // a type mismatch: decoding reports it
		}
		fields := fieldsOf(t)
		for _, kv := range c.pairs(n, path) {
			name := kv.key.Value
			ft, ok := fields.types[name]
			if !ok {
				c.add(kv.key.Line, "unknown field %q%s", join(path, name), suggest(name, path, fields.names))
				c.duplicates(kv.value, join(path, name))
				continue
			}
			c.walk(kv.value, ft, join(path, name))
		}
		return
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			break
		}
		for _, kv := range c.pairs(n, path) {
			c.walk(kv.value, t.Elem(), join(path, kv.key.Value))
		}
		return
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			break
		}
		for i, item := range n.Content {
			c.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
		return
	}
	c.duplicates(n, path)
}

// duplicates checks the keys of every mapping under n, whatever its type.
func (c *fieldChecker) duplicates(n *yaml.Node, path string) {
	n = resolve(n)
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for _, kv := range c.pairs(n, path) {
			c.duplicates(kv.value, join(path, kv.key.Value))
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			c.duplicates(item, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

type keyValue struct{ key, value *yaml.Node }

// pairs returns the keys and values of a mapping, reporting keys given
// twice. Keys merged in with "<<: *anchor" come after, unless given
// explicitly (an explicit key overrides a merged one, as YAML says).
func (c *fieldChecker) pairs(n *yaml.Node, path string) []keyValue {
	var out, merged []keyValue
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			for _, m := range mergeSources(v) {
				merged = append(merged, c.pairs(m, path)...)
			}
			continue
		}
		if line, ok := first[k.Value]; ok {
			c.add(k.Line, "duplicate key %q (first at line %d): keep one", join(path, k.Value), line)
			continue
		}
		first[k.Value] = k.Line
		out = append(out, keyValue{k, v})
	}
	for _, kv := range merged {
		if _, ok := first[kv.key.Value]; !ok {
			first[kv.key.Value] = kv.key.Line
			out = append(out, kv)
		}
	}
	return out
}

// mergeSources returns the mappings a merge key names: one, or a sequence.
func mergeSources(v *yaml.Node) []*yaml.Node {
	v = resolve(v)
	if v.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, item := range v.Content {
			if m := resolve(item); m.Kind == yaml.MappingNode {
				out = append(out, m)
			}
		}
		return out
	}
	if v.Kind == yaml.MappingNode {
		return []*yaml.Node{v}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fields are a struct type's JSON field names, in declaration order, with
// the fields of embedded structs without a name (metav1.TypeMeta) promoted
// as encoding/json does.
type fields struct {
	names []string
	types map[string]reflect.Type
}

var fieldCache sync.Map // reflect.Type -> *fields

func fieldsOf(t reflect.Type) *fields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*fields)
	}
	f := &fields{types: map[string]reflect.Type{}}
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if sf.Anonymous && name == "" {
				et := sf.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					collect(et)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if _, dup := f.types[name]; !dup {
				f.names = append(f.names, name)
				f.types[name] = sf.Type
			}
		}
	}
	collect(t)
	fieldCache.Store(t, f)
	return f
}

// suggest names the closest known field, or lists them when none is close.
func suggest(name, path string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := distance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	limit := 2
	if len(name) <= 4 {
		limit = 1
	}
	if best != "" && bestD <= limit {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	where := path
	if where == "" {
		where = "a SyncPipeline"
	}
	return fmt.Sprintf(": %s has no such field (it has %s)", where, strings.Join(known, ", "))
}

// distance is the optimal string alignment distance: edits, plus swaps of
// two neighbours (batchSzie is one swap from batchSize).
func distance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}
