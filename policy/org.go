// Package policy owns the config repository's schema: it parses org files into desired
// state with file:line:column errors and makes the decisions that need no I/O.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// OrgDir is the directory of the config repository that holds one file per organization.
const OrgDir = "orgs"

// Org is the desired state of one organization, as written in orgs/<org>.yaml.
type Org struct {
	// Name is the organization, a lowercase DNS label (see ValidateOrgName).
	Name string
	// Model names the artifact the organization must run.
	Model ModelRef
	// File is the path of the org file in the config repository.
	File string
}

// ModelRef names a model artifact: a repository in an OCI registry and a version (tag).
type ModelRef struct {
	Repository string
	Version    string
}

// Reference returns "repository:version".
func (m ModelRef) Reference() string { return m.Repository + ":" + m.Version }

var orgName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateOrgName reports whether name is a safe organization name: a lowercase DNS label
// (RFC 1123: a-z, 0-9 and '-', 1 to 63 characters, starting and ending alphanumeric). Such a
// name can never traverse a path, so it is used as a directory name as it is.
func ValidateOrgName(name string) error {
	if !orgName.MatchString(name) {
		return fmt.Errorf("org name %q is not a lowercase DNS label (a-z, 0-9, '-', at most 63, alphanumeric at both ends)", name)
	}
	return nil
}

var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// ValidateVersion reports whether v is a valid OCI tag, which is also a safe file-name part.
func ValidateVersion(v string) error {
	if !tagPattern.MatchString(v) {
		return fmt.Errorf("version %q is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})", v)
	}
	return nil
}

// Problem is one error found in a config repository file, positioned at file:line:column.
type Problem struct {
	File   string
	Line   int
	Column int
	Msg    string
}

// Error formats the problem as file:line:col: message.
func (p Problem) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Msg)
}

// Problems is every problem found in one parse, sorted by file and position.
type Problems []Problem

// Error joins the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return ps
}

// ParseOrg parses one org file. file is its path in the repository (orgs/<org>.yaml); the
// base name must match the `org:` it declares. All problems of the file are returned together.
func ParseOrg(file string, data []byte) (*Org, error) {
	var ps Problems
	add := func(n *yaml.Node, format string, args ...any) {
		p := Problem{File: file, Msg: fmt.Sprintf(format, args...)}
		if n != nil {
			p.Line, p.Column = n.Line, n.Column
		}
		ps = append(ps, p)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, Problems{yamlProblem(file, err)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		add(root, "an org file must be a mapping with `org:` and `model:`")
		return nil, ps
	}
	o := &Org{File: file}
	fields := mapping(root, add, "org", "model")
	if n := fields["org"]; n == nil {
		add(root, "missing required key `org`")
	} else if s, ok := scalar(n, add, "org"); ok {
		if err := ValidateOrgName(s); err != nil {
			add(n, "%v", err)
		} else if want := strings.TrimSuffix(path.Base(file), path.Ext(file)); want != s {
			add(n, "org %q does not match the file name %q (want org: %s, or rename the file)", s, path.Base(file), want)
		}
		o.Name = s
	}
	if m := fields["model"]; m == nil {
		add(root, "missing required key `model`")
	} else if m.Kind != yaml.MappingNode {
		add(m, "`model` must be a mapping with `repository` and `version`")
	} else {
		mf := mapping(m, add, "repository", "version")
		o.Model.Repository = required(m, mf, add, "repository", "model.repository")
		o.Model.Version = required(m, mf, add, "version", "model.version")
		if n := mf["version"]; n != nil && o.Model.Version != "" {
			if err := ValidateVersion(o.Model.Version); err != nil {
				add(n, "model.version: %v", err)
			}
		}
		if n := mf["repository"]; n != nil && strings.ContainsAny(o.Model.Repository, "@: \t") && !strings.Contains(o.Model.Repository, "/") {
			add(n, "model.repository %q must be a repository such as registry.example.com/acme/pdm, without tag or digest", o.Model.Repository)
		}
	}
	if len(ps) > 0 {
		return nil, ps.sorted()
	}
	return o, nil
}

// mapping checks that every key of n is one of allowed and returns the value nodes by key.
func mapping(n *yaml.Node, add func(*yaml.Node, string, ...any), allowed ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !contains(allowed, k.Value) {
			add(k, "unknown key %q%s", k.Value, suggest(k.Value, allowed))
			continue
		}
		if _, dup := out[k.Value]; dup {
			add(k, "key %q appears twice", k.Value)
			continue
		}
		out[k.Value] = v
	}
	return out
}

func required(parent *yaml.Node, fields map[string]*yaml.Node, add func(*yaml.Node, string, ...any), key, long string) string {
	n := fields[key]
	if n == nil {
		add(parent, "missing required key `%s`", long)
		return ""
	}
	s, _ := scalar(n, add, long)
	return s
}

func scalar(n *yaml.Node, add func(*yaml.Node, string, ...any), name string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		add(n, "`%s` must be a non-empty string", name)
		return "", false
	}
	return n.Value, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem turns a yaml.v3 syntax error into a positioned Problem.
func yamlProblem(file string, err error) Problem {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscanf(m[1], "%d", &line)
		return Problem{File: file, Line: line, Column: 1, Msg: "YAML syntax: " + m[2]}
	}
	return Problem{File: file, Msg: "YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}
