package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiff(t *testing.T) {
	base := map[string]string{
		"talon.yaml":       "pollInterval: 30s\ndefaults: {trust: {keys: [keys/k.pub]}}\n",
		"keys/k.pub":       testKey,
		"orgs/acme.yaml":   "org: acme\nmodel: {repository: r.example/acme, version: v1}\n",
		"orgs/globex.yaml": "org: globex\nmodel: {repository: r.example/globex, version: v1}\n",
		"orgs/broken.yaml": "org: broken\nmodel: {repository: r.example/b}\n",
		"orgs/gone.yaml":   "org: gone\nmodel: {repository: r.example/g, version: v1}\n",
	}
	next := func(change map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range change {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	type row struct {
		org    string
		kind   ChangeKind
		fields []FieldChange
		model  bool
	}
	rotated := "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE1bstSGvVk6YZewJUaXMyTVfvbsi3\nn0EOj95xDfYQ5hsP8skiIpdR8JTD0kjADHOHtxR2tbE44QvmoFdxUKI2cg==\n-----END PUBLIC KEY-----\n"
	tests := []struct {
		name   string
		change map[string]string
		root   []FieldChange
		want   []row
	}{
		{"nothing", nil, nil, nil},
		{"version bump", map[string]string{"orgs/acme.yaml": "org: acme\nmodel: {repository: r.example/acme, version: v2}\n"}, nil,
			[]row{{"acme", OrgChanged, []FieldChange{{"model.version", "v1", "v2"}}, true}}},
		{"comments and order only", map[string]string{"orgs/acme.yaml": "# hi\nmodel: {version: v1, repository: r.example/acme}\norg: acme\n"}, nil, nil},
		{"monitoring only", map[string]string{"orgs/acme.yaml": "org: acme\nmodel: {repository: r.example/acme, version: v1}\nmonitoring: {autoRollback: true}\n"}, nil,
			[]row{{"acme", OrgChanged, []FieldChange{{"monitoring.autoRollback", "false", "true"}}, false}}},
		{"default changes every org", map[string]string{"talon.yaml": "pollInterval: 1m\ndefaults: {trust: {keys: [keys/k.pub]}, retention: {maxVersions: 3}}\n"},
			[]FieldChange{{"pollInterval", "30s", "1m"}},
			[]row{{"acme", OrgChanged, []FieldChange{{"retention.maxVersions", "10", "3"}}, false},
				{"globex", OrgChanged, []FieldChange{{"retention.maxVersions", "10", "3"}}, false},
				{"gone", OrgChanged, []FieldChange{{"retention.maxVersions", "10", "3"}}, false}}},
		{"key rotated in place", map[string]string{"keys/k.pub": rotated}, nil,
			[]row{{"acme", OrgChanged, nil, false}, {"globex", OrgChanged, nil, false}, {"gone", OrgChanged, nil, false}}},
		{"added, removed, repaired, newly broken", map[string]string{
			"orgs/new.yaml":    "org: new\nmodel: {repository: r.example/n, version: v1}\n",
			"orgs/gone.yaml":   "",
			"orgs/broken.yaml": "org: broken\nmodel: {repository: r.example/b, version: v3}\n",
			"orgs/globex.yaml": "org: globex\nmodel: {repository: r.example/globex, versoin: v2}\n",
		}, nil, []row{{"broken", OrgRepaired, nil, true}, {"globex", OrgBroken, nil, false}, {"gone", OrgRemoved, nil, true}, {"new", OrgAdded, nil, true}}},
	}
	old := mustLoad(t, base)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Diff(old, mustLoad(t, next(tc.change)))
			if diff := cmp.Diff(tc.root, d.Root); diff != "" {
				t.Errorf("root (-want +got):\n%s", diff)
			}
			var got []row
			for _, c := range d.Orgs {
				r := row{org: c.Org, kind: c.Kind, model: c.ModelChanged()}
				if c.Kind == OrgChanged && tc.name != "key rotated in place" {
					r.fields = c.Fields
				}
				if c.Kind == OrgBroken && len(c.Problems) == 0 {
					t.Errorf("%s broken without problems", c.Org)
				}
				if tc.name == "key rotated in place" && (len(c.Fields) != 1 || c.Fields[0].Path != "trust.key keys/k.pub" || c.Fields[0].Old == c.Fields[0].New) {
					t.Errorf("%s: key change = %v", c.Org, c.Fields)
				}
				got = append(got, r)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(row{})); diff != "" {
				t.Errorf("orgs (-want +got):\n%s", diff)
			}
		})
	}
	if d := Diff(nil, old); len(d.Orgs) != 4 || d.Orgs[0].Kind != OrgAdded || d.Root != nil {
		t.Errorf("Diff(nil, cfg) = %+v, want every org added", d)
	}
	mon := OrgChange{Kind: OrgChanged, Fields: []FieldChange{{Path: "monitoring.window"}, {Path: "alerts[0].url"}}}
	if !mon.OnlyTouches("monitoring.", "alerts") || mon.OnlyTouches("monitoring.") || mon.ModelChanged() {
		t.Error("OnlyTouches/ModelChanged disagree with the fields")
	}
}
