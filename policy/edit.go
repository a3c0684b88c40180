package policy

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// SetModelVersion returns data, the bytes of the org file file (orgs/<org>.yaml), with its model.version
// set to tag, changing nothing else in the file: comments, key order, indentation, quoting style and
// every other byte stay as they were. It is how Talon's automatic promotion (cicd.autoPromote) edits
// an org file before committing it.
//
// A quoted version keeps its quotes; a plain one stays plain unless tag would not read back as a
// string (1.10, true): then it is double-quoted. changed is false, and out is data, when
// model.version already is tag. It refuses rather than guesses: a semver or digest pin, anchors,
// aliases, explicit tags, escapes, values over several lines, and edits that would add a problem.
func SetModelVersion(file string, data []byte, tag string) (out []byte, changed bool, err error) {
	if err := ValidateVersion(tag); err != nil {
		return nil, false, fmt.Errorf("%s: promote: %w", file, err)
	}
	n, err := versionNode(file, data)
	if err != nil {
		return nil, false, err
	}
	if n.Value == tag {
		return data, false, nil
	}
	if out, err = replaceScalar(file, data, n, tag); err == nil {
		err = checkEdit(file, data, out, tag)
	}
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// versionNode finds the scalar node of model.version in an org file.
func versionNode(file string, data []byte) (*yaml.Node, error) {
	top, ps := parseDoc(file, data)
	if len(ps) > 0 {
		return nil, ps
	}
	if top == nil || top.Kind != yaml.MappingNode {
		return nil, Problem{File: file, Msg: "not an org file (a mapping with `org:` and `model:`); promotion needs model.version"}
	}
	model := mapValue(top, "model")
	switch {
	case model == nil:
		return nil, at(file, top, "no `model:`; promotion needs model.version")
	case model.Kind == yaml.AliasNode || model.Anchor != "":
		return nil, at(file, model, "model: anchors and aliases are not edited automatically; write the model mapping out in full")
	case model.Kind != yaml.MappingNode:
		return nil, at(file, model, "model must be a mapping, got "+describe(model))
	}
	n := mapValue(model, "version")
	if n == nil {
		for _, k := range []string{"semver", "digest"} {
			if v := mapValue(model, k); v != nil {
				return nil, at(file, v, fmt.Sprintf("the org is pinned by model.%s, not by tag; promotion needs model.version", k))
			}
		}
		return nil, at(file, model, "no model.version; promotion needs the org pinned by tag (model.version)")
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return nil, at(file, n, "model.version: anchors and aliases are not edited automatically; write the tag out")
	}
	if n.Kind != yaml.ScalarNode || n.Style&^(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		return nil, at(file, n, "model.version must be a plain or quoted scalar on one line, without an explicit tag, to be edited automatically")
	}
	return n, nil
}

// mapValue returns the value of key in the mapping m, the first if the key repeats (as the
// decoder reads it), or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func at(file string, n *yaml.Node, msg string) Problem {
	return Problem{File: file, Line: n.Line, Column: n.Column, Msg: msg}
}

// replaceScalar replaces the source token of the scalar n by tag, in n's quoting style. A plain
// tag that yaml.v3 would not write plain (it would not read back as the same string) is quoted.
func replaceScalar(file string, data []byte, n *yaml.Node, tag string) ([]byte, error) {
	quote := map[yaml.Style]string{yaml.SingleQuotedStyle: "'", yaml.DoubleQuotedStyle: `"`}[n.Style]
	old := quote + n.Value + quote
	start, ok := offsetOf(data, n.Line, n.Column)
	if !ok || !bytes.HasPrefix(data[start:], []byte(old)) {
		return nil, at(file, n, fmt.Sprintf("model.version: the source text here is not %s as expected (escapes or a value over several lines?); edit it by hand", old))
	}
	if quote == "" {
		plain, err := yaml.Marshal(tag)
		if err != nil {
			return nil, fmt.Errorf("%s: promote: %w", file, err)
		}
		if string(plain) != tag+"\n" {
			quote = `"`
		}
	}
	out := make([]byte, 0, len(data)+len(tag)+2)
	out = append(out, data[:start]...)
	out = append(out, quote+tag+quote...)
	return append(out, data[start+len(old):]...), nil
}

// offsetOf returns the byte offset of line:column as yaml.v3 counts them: from 1, in characters,
// with CRLF, CR, LF, NEL, LS and PS each ending a line and a leading byte order mark not counted.
func offsetOf(data []byte, line, column int) (int, bool) {
	i, l, c := 0, 1, 1
	if bytes.HasPrefix(data, []byte("\uFEFF")) {
		i = 3
	}
	for ; i < len(data) && (l < line || l == line && c < column); c++ {
		r, size := utf8.DecodeRune(data[i:])
		if r == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			size++
		}
		if r == '\r' || r == '\n' || r == '\u0085' || r == '\u2028' || r == '\u2029' {
			l, c = l+1, 0
		}
		i += size
	}
	return i, l == line && c == column
}

// checkEdit parses the edited file and refuses it unless model.version reads back as tag and
// it has no problem the original did not have. (An org file alone may have problems that
// talon.yaml resolves, such as a repository without registry host, so the original's
// problems are allowed to stay.)
func checkEdit(file string, data, out []byte, tag string) error {
	root := BuiltinRoot()
	before, after := parseOrg(file, data, &root, nil), parseOrg(file, out, &root, nil)
	had := map[string]int{}
	for _, p := range before.ps {
		had[fmt.Sprintf("%d %s", p.Line, p.Msg)]++
	}
	var added Problems
	for _, p := range after.ps {
		if k := fmt.Sprintf("%d %s", p.Line, p.Msg); had[k] > 0 {
			had[k]--
		} else {
			added = append(added, p)
		}
	}
	if len(added) > 0 {
		return fmt.Errorf("%s: promote: setting model.version to %q would break the file: %w", file, tag, added)
	}
	if after.o == nil || after.o.Model.Version != tag {
		return fmt.Errorf("%s: promote: the edited file does not read back model.version %q; edit it by hand", file, tag)
	}
	return nil
}
