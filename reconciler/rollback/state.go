package rollback

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// modelKeys are the keys of an org file's `model:` section that make up its desired model.
var modelKeys = []string{"repository", "version", "semver", "digest"}

// model is an org's desired model as one commit's org file states it. Two commits ask for
// the same model exactly when their models are equal: comments, formatting, key order and
// other sections of the file do not count.
type model struct {
	present bool   // the org file exists
	invalid string // the file's text when it is not YAML with a `model:` mapping of scalars
	fields  [4]string
}

// parseModel reads the desired model from an org file's content (nil: the file is absent).
func parseModel(data []byte, present bool) model {
	if !present {
		return model{}
	}
	bad := model{present: true, invalid: string(data)}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return bad
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return bad
	}
	sec := lookup(root, "model")
	if sec == nil || sec.Kind != yaml.MappingNode {
		return bad
	}
	m := model{present: true}
	for i, key := range modelKeys {
		n := lookup(sec, key)
		if n == nil {
			continue
		}
		if n.Kind != yaml.ScalarNode {
			return bad
		}
		m.fields[i] = n.Value
	}
	return m
}

func lookup(mapping *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return mapping.Content[i+1]
		}
	}
	return nil
}

// Version is the model's version (empty when the file is absent or not understood).
func (m model) Version() string { return m.fields[1] }

// String describes the model for messages: "v1.4.2", "v1.4.2 (semver ^1.4, digest sha256:…)",
// "no org file" or "an unreadable org file".
func (m model) String() string {
	switch {
	case !m.present:
		return "no org file"
	case m.invalid != "":
		return "an org file without a readable model section"
	}
	s := m.Version()
	if s == "" {
		s = "no version"
	}
	var extra []string
	if m.fields[2] != "" {
		extra = append(extra, "semver "+m.fields[2])
	}
	if m.fields[3] != "" {
		extra = append(extra, "digest "+m.fields[3])
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// describe is "repository:version" when the model names a repository.
func (m model) describe() string {
	if m.present && m.invalid == "" && m.fields[0] != "" {
		return fmt.Sprintf("%s:%s", m.fields[0], m.String())
	}
	return m.String()
}

// matches reports whether the model names v as its version, semver range or digest.
func (m model) matches(v string) bool {
	return m.present && m.invalid == "" && (m.fields[1] == v || m.fields[2] == v || m.fields[3] == v)
}
