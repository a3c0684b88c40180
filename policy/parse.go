package policy

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// ParseOrg parses one org file on its own, over the built-in defaults. file is its path in
// the repository (orgs/<org>.yaml); the base name must match the `org:` it declares. All
// problems of the file are returned together, as Problems. It does not check what the file
// refers to elsewhere in the repository (trust keys, a dataset path, talon.yaml): Load does.
func ParseOrg(file string, data []byte) (*Org, error) {
	root := BuiltinRoot()
	c := parseOrg(file, data, &root, nil)
	if len(c.ps) > 0 {
		return nil, c.ps.sorted()
	}
	return c.o, nil
}

// parseDoc parses data as exactly one YAML document and returns its top node; nil without
// problems means an empty document.
func parseDoc(file string, data []byte) (top *yaml.Node, ps Problems) {
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return nil, Problems{{File: file, Msg: "not a UTF-8 text file (binary data?)"}}
	}
	defer func() {
		if r := recover(); r != nil {
			top, ps = nil, Problems{{File: file, Msg: fmt.Sprintf("YAML parser failed: %v", r)}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err == io.EOF {
		return nil, nil
	} else if err != nil {
		return nil, Problems{tabHint(yamlProblem(file, err), data)}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, Problems{{File: file, Line: next.Line, Column: next.Column, Msg: "a second YAML document (---): a file holds one"}}
	case err != io.EOF:
		return nil, Problems{yamlProblem(file, err)}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem turns a yaml.v3 syntax error into a positioned Problem.
func yamlProblem(file string, err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscanf(m[1], "%d", &line)
		return Problem{File: file, Line: line, Column: 1, Msg: "YAML syntax: " + m[2]}
	}
	return Problem{File: file, Msg: "YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// tabHint explains yaml.v3's message for a tab in indentation.
func tabHint(p Problem, data []byte) Problem {
	lines := bytes.Split(data, []byte("\n"))
	if p.Line > 0 && p.Line <= len(lines) && bytes.HasPrefix(bytes.TrimLeft(lines[p.Line-1], " "), []byte("\t")) {
		p.Msg += " (a tab: YAML indents with spaces only)"
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseRoot decodes talon.yaml over the built-in root. It returns the root decoder's node
// positions for problems found later in inherited values.
func parseRoot(file string, data []byte) (Root, map[string]*yaml.Node, Problems) {
	r := BuiltinRoot()
	r.Origins = map[string]Origin{}
	top, ps := parseDoc(file, data)
	if top == nil {
		return r, nil, ps
	}
	d := newDecoder(file, FromFile, r.Origins)
	d.hint = func(p, key string) string {
		if p == "" && fieldOf(reflect.TypeOf(Policy{}), key) {
			return fmt.Sprintf(" (org settings go under `defaults:`, as defaults.%s)", key)
		}
		return ""
	}
	d.decode(top, reflect.ValueOf(&r).Elem(), "", nil)
	return r, d.pos, d.ps
}

// parseOrg decodes an org file over root's defaults and checks what the file alone can
// tell. The checker it returns has the org (nil when the file is not an org mapping at all),
// its problems so far and the node positions for further checks.
func parseOrg(file string, data []byte, root *Root, rootPos map[string]*yaml.Node) *checker {
	top, ps := parseDoc(file, data)
	if len(ps) > 0 {
		return &checker{ps: ps}
	}
	if top == nil {
		return &checker{ps: Problems{{File: file, Msg: "empty file: an org file needs `org:` and `model:`"}}}
	}
	if top.Kind != yaml.MappingNode {
		return &checker{ps: Problems{{File: file, Line: top.Line, Column: top.Column,
			Msg: "an org file must be a mapping with `org:` and `model:`, got " + describe(top)}}}
	}
	o := &Org{File: file, Policy: root.Defaults, Origins: map[string]Origin{}}
	for k, v := range root.Origins {
		if rest, ok := strings.CutPrefix(k, "defaults."); ok {
			v.Kind = FromDefaults
			o.Origins[rest] = v
		}
	}
	d := newDecoder(file, FromFile, o.Origins)
	d.hint = func(p, key string) string {
		if p == "" && fieldOf(reflect.TypeOf(Root{}), key) {
			return " (it belongs in talon.yaml)"
		}
		return ""
	}
	d.decode(top, reflect.ValueOf(o).Elem(), "", nil)
	complete(o, root.Registry.Host)
	c := &checker{o: o, pos: d.pos, bad: d.bad, rootPos: rootPos, top: top, ps: d.ps}
	c.file()
	return c
}

func fieldOf(t reflect.Type, key string) bool {
	for _, f := range fieldsOf(t) {
		if f.key == key {
			return true
		}
	}
	return false
}

// checker runs the checks that span fields of one org, placing each problem at the value
// it is about, in the org file or in talon.yaml when the value is inherited.
type checker struct {
	o       *Org
	pos     map[string]*yaml.Node
	bad     map[string]bool // values the decoder refused: present, but not in o
	rootPos map[string]*yaml.Node
	top     *yaml.Node
	ps      Problems
}

func (c *checker) add(at string, format string, args ...any) {
	file, n := c.locate(at)
	c.ps = append(c.ps, Problem{File: file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)})
}

// locate finds the node of path: in the layer its value came from, else its nearest
// ancestor there, else the top of the org file.
func (c *checker) locate(p string) (string, *yaml.Node) {
	kind := BuiltIn
	for q := p; q != ""; q = parentPath(q) {
		if o, ok := c.o.Origins[q]; ok {
			kind = o.Kind
			break
		}
	}
	for q := p; q != ""; q = parentPath(q) {
		if kind == FromDefaults {
			if n := c.rootPos["defaults."+q]; n != nil {
				return RootFile, n
			}
		} else if n := c.pos[q]; n != nil {
			return c.o.File, n
		}
	}
	return c.o.File, c.top
}

// parentPath strips the last element of "a.b[2].c".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// file runs the checks one org file allows on its own.
func (c *checker) file() {
	o := c.o
	base := path.Base(o.File)
	if want := strings.TrimSuffix(base, path.Ext(base)); o.Name != "" && want != o.Name && ValidateOrgName(o.Name) == nil {
		c.add("org", "org %q does not match the file name %q (want org: %s, or rename the file)", o.Name, base, want)
	}
	set := func(value bool, path string) bool { return value || c.bad[path] }
	m := o.Model
	if n := count(set(m.Version != "", "model.version"), set(m.Semver != "", "model.semver"), set(m.Digest != "", "model.digest")); n != 1 &&
		c.pos["model"] != nil && c.pos["model"].Kind == yaml.MappingNode {
		c.add("model", "model: exactly one of `version`, `semver` or `digest` is required (got %d)", n)
	}
	if m.Repository != "" && checks["repository"](m.Repository) == nil && !hasRegistryHost(m.Repository) {
		c.add("model.repository", "model.repository %q names no registry host: write it in full (registry.example.com/%s) or set registry.host in talon.yaml", m.Repository, m.Repository)
	}
	w := o.Window
	sched, dur := set(w.Schedule != "", "window.schedule"), set(w.Duration > 0, "window.duration")
	if sched && !dur {
		c.add("window.schedule", "window: a schedule needs a `duration` (how long the window stays open, such as 4h)")
	}
	if !sched && dur {
		c.add("window.duration", "window: a duration needs a `schedule` (when the window opens)")
	}
	ds := o.Validation.Dataset
	if ds.From == "repo" && !set(ds.Path != "", "validation.dataset.path") {
		c.add("validation.dataset.from", "validation.dataset: from: repo needs a `path`")
	}
	if ds.From == "artifact" && ds.Path != "" {
		c.add("validation.dataset.path", "validation.dataset: a path is only read with from: repo")
	}
	names := map[string]bool{}
	for i, a := range o.Alerts {
		at := fmt.Sprintf("alerts[%d]", i)
		if count(set(a.URL != "", at+".url"), set(a.URLFromEnv != "", at+".urlFromEnv")) != 1 {
			c.add(at, "alerts[%d]: exactly one of `url` or `urlFromEnv` is required", i)
		}
		if names[a.Name] && a.Name != "" {
			c.add(at+".name", "alerts[%d]: name %q is used twice", i, a.Name)
		}
		names[a.Name] = true
	}
	if o.Trust.AllowUnsigned && len(o.Trust.Keys) > 0 && o.Origins["trust.keys"].File == o.Origins["trust.allowUnsigned"].File {
		c.add("trust.allowUnsigned", "trust: allowUnsigned: true with keys would skip verifying them; remove one")
	}
	seen := map[string]bool{}
	for i, k := range o.Trust.Keys {
		if seen[k] {
			c.add(fmt.Sprintf("trust.keys[%d]", i), "trust.keys: %q is listed twice", k)
		}
		seen[k] = true
	}
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
