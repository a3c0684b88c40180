package policy

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

const (
	// MaxNodes bounds how many YAML nodes the decoder visits in one file, counting every
	// visit through an alias, so anchors and aliases cannot blow up ("billion laughs").
	MaxNodes = 20000
	// maxFileProblems bounds the problems reported for one file.
	maxFileProblems = 100
)

// decoder decodes one file's yaml.Node tree into the schema types, strictly: every problem
// is recorded with its position, and decoding goes on after a problem so all are found.
// Decoding into a value that already holds defaults overlays it: a key absent from the
// file keeps its value; a list present in the file replaces the old list.
type decoder struct {
	file    string
	kind    OriginKind
	ps      Problems
	nodes   int
	over    bool
	origins map[string]Origin     // path → where its value was set
	pos     map[string]*yaml.Node // path → value node, for checks after decoding
	bad     map[string]bool       // paths whose value had a problem
	hint    func(path, key string) string
}

func newDecoder(file string, kind OriginKind, origins map[string]Origin) *decoder {
	return &decoder{file: file, kind: kind, origins: origins, pos: map[string]*yaml.Node{}, bad: map[string]bool{}}
}

func (d *decoder) add(n *yaml.Node, format string, args ...any) {
	if len(d.ps) == maxFileProblems {
		d.ps = append(d.ps, Problem{File: d.file, Msg: fmt.Sprintf("more than %d problems; stopped reporting", maxFileProblems)})
	}
	if len(d.ps) > maxFileProblems {
		return
	}
	p := Problem{File: d.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.ps = append(d.ps, p)
}

// addAt records a problem about the value at path and marks that value bad, so the
// checks that combine fields do not report its absence as well.
func (d *decoder) addAt(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.add(n, format, args...)
}

// visit counts a node against MaxNodes; false means stop.
func (d *decoder) visit(n *yaml.Node) bool {
	d.nodes++
	if d.nodes > MaxNodes {
		if !d.over {
			d.over = true
			d.add(n, "more than %d YAML nodes (counting alias expansions): refusing to read further", MaxNodes)
		}
		return false
	}
	return true
}

// deref follows aliases, counting each hop.
func (d *decoder) deref(n *yaml.Node) (*yaml.Node, bool) {
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil || !d.visit(n) {
			return n, false
		}
		n = n.Alias
	}
	return n, true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// set records where path's value came from, forgetting what a replaced list held.
func (d *decoder) set(path string, n *yaml.Node) {
	d.pos[path] = n
	for k := range d.origins {
		if strings.HasPrefix(k, path+"[") || strings.HasPrefix(k, path+".") {
			delete(d.origins, k)
		}
	}
	d.origins[path] = Origin{Kind: d.kind, File: d.file, Line: n.Line, Column: n.Column}
}

// decode decodes n into v; path names v for messages ("validation.minAccuracy").
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, t *tag) {
	if !d.visit(n) {
		return
	}
	n, ok := d.deref(n)
	if !ok {
		return
	}
	if path != "" {
		d.pos[path] = n
	}
	null := n.Kind == yaml.ScalarNode && n.Tag == "!!null"
	switch {
	case v.Type() == durationType:
		if s, ok := d.scalar(n, path, "a duration such as 30s, 5m or 7d"); ok {
			dur, err := ParseDuration(s)
			if err != nil {
				d.addAt(n, path, "`%s`: %v", path, err)
				return
			}
			d.leaf(n, v, path, t, reflect.ValueOf(dur), float64(dur), FormatDuration(dur))
		}
		return
	case v.Type() == byteSizeType:
		if s, ok := d.scalar(n, path, "a size such as 10MiB"); ok {
			b, err := ParseByteSize(s)
			if err != nil {
				d.addAt(n, path, "`%s`: %v", path, err)
				return
			}
			d.leaf(n, v, path, t, reflect.ValueOf(b), float64(b), b.String())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if null && t != nil && t.required {
			d.addAt(n, path, "`%s` must be a mapping, got nothing", path)
			return
		}
		if null {
			return // an empty optional section changes nothing
		}
		d.mapping(n, v, path)
	case reflect.Pointer:
		d.set(path, n)
		if null {
			v.SetZero()
			return
		}
		nv := reflect.New(v.Type().Elem())
		d.decode(n, nv.Elem(), path, t)
		v.Set(nv)
	case reflect.Slice:
		d.sequence(n, v, path, t, null)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a non-empty string"); ok {
			d.leaf(n, v, path, t, reflect.ValueOf(s).Convert(v.Type()), math.NaN(), s)
		}
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			d.addAt(n, path, "`%s` must be true or false, got %s", path, describe(n))
			return
		}
		d.leaf(n, v, path, t, reflect.ValueOf(b), math.NaN(), strconv.FormatBool(b))
	case reflect.Int, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			d.addAt(n, path, "`%s` must be an integer, got %s", path, describe(n))
			return
		}
		d.leaf(n, v, path, t, reflect.ValueOf(i).Convert(v.Type()), float64(i), strconv.FormatInt(i, 10))
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil ||
			math.IsNaN(f) || math.IsInf(f, 0) {
			d.addAt(n, path, "`%s` must be a number, got %s", path, describe(n))
			return
		}
		d.leaf(n, v, path, t, reflect.ValueOf(f), f, strconv.FormatFloat(f, 'g', -1, 64))
	default:
		panic("policy: no decoder for " + v.Type().String())
	}
}

// scalar returns the text of a non-null scalar, or records a problem.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		d.addAt(n, path, "`%s` must be %s", path, want)
		return "", false
	}
	return n.Value, true
}

// leaf checks a decoded scalar against the field's constraints and stores it.
func (d *decoder) leaf(n *yaml.Node, v reflect.Value, path string, t *tag, val reflect.Value, num float64, text string) {
	if t != nil && !d.constrain(n, path, t, num, text) {
		return
	}
	v.Set(val)
	if !strings.HasSuffix(path, "]") {
		d.set(path, n)
	}
}

func (d *decoder) constrain(n *yaml.Node, path string, t *tag, num float64, text string) bool {
	if !math.IsNaN(num) {
		if t.min != nil && num < *t.min {
			if *t.min == 1 && (n.Tag != "!!int" || strings.Contains(text, "s")) {
				d.addAt(n, path, "`%s` must be more than 0, got %s", path, text)
				return false
			}
			d.addAt(n, path, "`%s` must be at least %s, got %s", path, fmtLimit(*t.min), text)
			return false
		}
		if t.max != nil && num > *t.max {
			d.addAt(n, path, "`%s` must be at most %s, got %s", path, fmtLimit(*t.max), text)
			return false
		}
	}
	if t.enum != nil && !contains(t.enum, text) {
		d.addAt(n, path, "`%s` must be one of %s, got %q%s", path, strings.Join(t.enum, ", "), text, suggest(text, t.enum))
		return false
	}
	for _, c := range t.checks {
		if err := checks[c](text); err != nil {
			d.addAt(n, path, "`%s`: %v", path, err)
			return false
		}
	}
	return true
}

func fmtLimit(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string, t *tag, null bool) {
	if null {
		v.SetZero()
		d.set(path, n)
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.addAt(n, path, "`%s` must be a list, got %s", path, describe(n))
		return
	}
	if t != nil && t.required && len(n.Content) == 0 {
		d.addAt(n, path, "`%s` must not be empty", path)
	}
	d.set(path, n)
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.pos[ip] = item
		et := t
		if et != nil {
			c := *et
			c.required = false
			et = &c
		}
		d.decode(item, s.Index(i), ip, et)
	}
	v.Set(s)
}

// mapping decodes a mapping node into struct v.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		name := "`" + path + "`"
		if path == "" {
			name = "the file"
		}
		d.add(n, "%s must be a mapping, got %s", name, describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.key
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !d.visit(k) {
			return
		}
		k, ok := d.deref(k)
		if !ok {
			return
		}
		var f *field
		for j := range fields {
			if fields[j].key == k.Value {
				f = &fields[j]
			}
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			d.add(k, "keys must be plain words, got %s", describe(k))
			continue
		case k.Value == "<<":
			d.add(k, "merge keys (<<) are not supported; put shared settings under `defaults:` in talon.yaml")
			continue
		case f == nil:
			hint := suggest(k.Value, names)
			if d.hint != nil && hint == "" {
				hint = d.hint(path, k.Value)
			}
			d.add(k, "unknown key %q%s", join(path, k.Value), hint)
			continue
		case seen[k.Value]:
			d.add(k, "key %q appears twice", join(path, k.Value))
			continue
		}
		seen[k.Value] = true
		d.decode(val, v.FieldByIndex(f.index), join(path, f.key), &f.tag)
	}
	for _, f := range fields {
		if f.required && !seen[f.key] {
			d.add(n, "missing required key `%s`", join(path, f.key))
		}
	}
}

// describe names what a node holds, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return strconv.Quote(v)
}
