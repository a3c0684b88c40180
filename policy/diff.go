package policy

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"sort"
)

// ChangeKind says how an org changed between two configs.
type ChangeKind int

const (
	// OrgAdded: the org is new and valid.
	OrgAdded ChangeKind = iota
	// OrgRemoved: the org's file is gone.
	OrgRemoved
	// OrgChanged: the org is valid in both and some setting differs (see Fields).
	OrgChanged
	// OrgBroken: the org has problems now (new ones, or it was valid before); it keeps
	// serving its last good model.
	OrgBroken
	// OrgRepaired: the org was broken and is valid now; apply it in full.
	OrgRepaired
)

func (k ChangeKind) String() string {
	return [...]string{"added", "removed", "changed", "broken", "repaired"}[k]
}

// FieldChange is one setting that differs; "" stands for absent.
type FieldChange struct {
	Path     string
	Old, New string
}

// OrgChange is how one org changed.
type OrgChange struct {
	Org  string
	Kind ChangeKind
	// Fields lists the settings that differ (OrgChanged; also OrgAdded and OrgRemoved,
	// against nothing). Trust key content appears as "trust.key <path>" with sha256 values.
	Fields []FieldChange
	// Problems are the org's problems now (OrgBroken).
	Problems Problems
}

// ModelChanged reports whether the desired model (model.*) differs.
func (c OrgChange) ModelChanged() bool { return c.touches("model.") }

// OnlyTouches reports whether every changed field starts with one of prefixes, such as
// "monitoring." (a change that needs no redeploy).
func (c OrgChange) OnlyTouches(prefixes ...string) bool {
	for _, f := range c.Fields {
		ok := false
		for _, p := range prefixes {
			ok = ok || hasPrefix(f.Path, p)
		}
		if !ok {
			return false
		}
	}
	return c.Kind == OrgChanged
}

func (c OrgChange) touches(prefix string) bool {
	for _, f := range c.Fields {
		if hasPrefix(f.Path, prefix) {
			return true
		}
	}
	return false
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// ConfigDiff is what changed between two configs.
type ConfigDiff struct {
	// Root lists changed talon.yaml settings other than defaults (those show in the orgs).
	Root []FieldChange
	// Orgs lists the orgs that changed, by name; unchanged orgs are absent.
	Orgs []OrgChange
}

// Diff compares two configs (old may be nil: everything is new). An org broken in both
// with the same problems is unchanged.
func Diff(old, new *Config) ConfigDiff {
	var d ConfigDiff
	if old == nil {
		old = &Config{}
	} else {
		oldRoot, newRoot := old.Root, new.Root
		oldRoot.Defaults, newRoot.Defaults = Policy{}, Policy{}
		d.Root = diffSettings(explain(reflect.ValueOf(&oldRoot).Elem(), nil), explain(reflect.ValueOf(&newRoot).Elem(), nil))
	}
	names := map[string]bool{}
	for _, c := range []*Config{old, new} {
		for _, o := range c.Orgs {
			names[o.Name] = true
		}
		for n := range c.Broken {
			names[n] = true
		}
	}
	for name := range names {
		oo, no := old.Org(name), new.Org(name)
		ob, nb := old.Broken[name], new.Broken[name]
		ch := OrgChange{Org: name}
		switch {
		case nb != nil:
			if ob != nil && reflect.DeepEqual(ob, nb) {
				continue
			}
			ch.Kind, ch.Problems = OrgBroken, nb
		case no == nil:
			ch.Kind = OrgRemoved
			if oo != nil {
				ch.Fields = diffSettings(old.settings(oo), nil)
			}
		case oo == nil && ob != nil:
			ch.Kind, ch.Fields = OrgRepaired, diffSettings(nil, new.settings(no))
		case oo == nil:
			ch.Kind, ch.Fields = OrgAdded, diffSettings(nil, new.settings(no))
		default:
			ch.Kind, ch.Fields = OrgChanged, diffSettings(old.settings(oo), new.settings(no))
			if len(ch.Fields) == 0 {
				continue
			}
		}
		d.Orgs = append(d.Orgs, ch)
	}
	sort.Slice(d.Orgs, func(i, j int) bool { return d.Orgs[i].Org < d.Orgs[j].Org })
	return d
}

// settings flattens o and adds the content of its trust keys.
func (c *Config) settings(o *Org) []Setting {
	s := explain(reflect.ValueOf(o).Elem(), nil)
	for _, k := range o.Trust.Keys {
		s = append(s, Setting{Path: "trust.key " + k, Value: fmt.Sprintf("sha256:%x", sha256.Sum256(c.Keys[k]))})
	}
	return s
}

func diffSettings(old, new []Setting) []FieldChange {
	om := map[string]string{}
	for _, s := range old {
		om[s.Path] = s.Value
	}
	var out []FieldChange
	seen := map[string]bool{}
	for _, s := range new {
		seen[s.Path] = true
		if ov, ok := om[s.Path]; !ok || ov != s.Value {
			out = append(out, FieldChange{Path: s.Path, Old: ov, New: s.Value})
		}
	}
	for _, s := range old {
		if !seen[s.Path] {
			out = append(out, FieldChange{Path: s.Path, Old: s.Value})
		}
	}
	return out
}
