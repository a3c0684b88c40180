package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseOrgValid(t *testing.T) {
	src := "org: acme\nmodel:\n  repository: 127.0.0.1:5000/acme/pdm\n  version: v1.2.0\n"
	got, err := ParseOrg("orgs/acme.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Org{Name: "acme", File: "orgs/acme.yaml", Model: ModelRef{Repository: "127.0.0.1:5000/acme/pdm", Version: "v1.2.0"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("ParseOrg mismatch (-want +got):\n%s", diff)
	}
	if got.Model.Reference() != "127.0.0.1:5000/acme/pdm:v1.2.0" {
		t.Fatalf("Reference() = %s", got.Model.Reference())
	}
}

func TestParseOrgFlowStyle(t *testing.T) {
	src := "org: acme\nmodel: {repository: localhost:5000/acme/pdm, version: v1}\n"
	got, err := ParseOrg("orgs/acme.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got.Model.Version != "v1" {
		t.Fatalf("version = %q", got.Model.Version)
	}
}

func TestParseOrgProblems(t *testing.T) {
	tests := []struct {
		name, file, src string
		want            []string // each must appear, in order, as one problem line
	}{
		{"unknown key with suggestion", "orgs/acme.yaml",
			"org: acme\nmodle:\n  repository: r/x\n  version: v1\n",
			[]string{`orgs/acme.yaml:1:1: missing required key ` + "`model`", `orgs/acme.yaml:2:1: unknown key "modle" (did you mean "model"?)`}},
		{"all problems at once", "orgs/acme.yaml",
			"org: Acme\nmodel:\n  repository: r/x\n  verison: v1\n",
			[]string{`orgs/acme.yaml:1:6: org name "Acme" is not a lowercase DNS label`, "orgs/acme.yaml:3:3: missing required key `model.version`", `orgs/acme.yaml:4:3: unknown key "verison" (did you mean "version"?)`}},
		{"traversal org name", "orgs/x.yaml",
			"org: ../../etc\nmodel: {repository: r/x, version: v1}\n",
			[]string{`orgs/x.yaml:1:6: org name "../../etc" is not a lowercase DNS label`}},
		{"file name mismatch", "orgs/globex.yaml",
			"org: acme\nmodel: {repository: r/x, version: v1}\n",
			[]string{`orgs/globex.yaml:1:6: org "acme" does not match the file name "globex.yaml"`}},
		{"bad tag", "orgs/acme.yaml",
			"org: acme\nmodel: {repository: r/x, version: \"v1/../x\"}\n",
			[]string{`orgs/acme.yaml:2:35: model.version: version "v1/../x" is not a valid OCI tag`}},
		{"syntax error", "orgs/acme.yaml",
			"org: acme\n\tmodel: x\n",
			[]string{`orgs/acme.yaml:2:1: YAML syntax: found a tab character`}},
		{"not a mapping", "orgs/acme.yaml", "- a\n- b\n",
			[]string{`orgs/acme.yaml:1:1: an org file must be a mapping`}},
		{"model not mapping", "orgs/acme.yaml", "org: acme\nmodel: v1\n",
			[]string{"orgs/acme.yaml:2:8: `model` must be a mapping"}},
		{"empty version", "orgs/acme.yaml", "org: acme\nmodel: {repository: r/x, version: }\n",
			[]string{"orgs/acme.yaml:2:35: `model.version` must be a non-empty string"}},
		{"duplicate key", "orgs/acme.yaml", "org: acme\norg: acme\nmodel: {repository: r/x, version: v1}\n",
			[]string{`orgs/acme.yaml:2:1: key "org" appears twice`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOrg(tc.file, []byte(tc.src))
			if err == nil {
				t.Fatal("want an error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestParseDesiredIsolatesBrokenFiles(t *testing.T) {
	files := []File{
		{Path: "orgs/acme.yaml", Data: []byte("org: acme\nmodel: {repository: r/acme, version: v1}\n")},
		{Path: "orgs/broken.yaml", Data: []byte("org: broken\nmodel: {repository: r/b}\n")},
		{Path: "orgs/globex.yaml", Data: []byte("org: globex\nmodel: {repository: r/globex, version: v2}\n")},
	}
	d := ParseDesired(files)
	var names []string
	for _, o := range d.Orgs {
		names = append(names, o.Name)
	}
	if diff := cmp.Diff([]string{"acme", "globex"}, names); diff != "" {
		t.Fatalf("orgs (-want +got):\n%s", diff)
	}
	if ps := d.Broken["broken"]; len(ps) != 1 || !strings.Contains(ps[0].Error(), "model.version") {
		t.Fatalf("broken = %v", d.Broken)
	}
}

func TestValidateOrgName(t *testing.T) {
	good := []string{"acme", "a", "globex-2", strings.Repeat("a", 63)}
	bad := []string{"", "Acme", "-acme", "acme-", "a_b", "a.b", "../x", "a/b", strings.Repeat("a", 64), "acme\x00"}
	for _, n := range good {
		if err := ValidateOrgName(n); err != nil {
			t.Errorf("ValidateOrgName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateOrgName(n); err == nil {
			t.Errorf("ValidateOrgName(%q) = nil, want an error", n)
		}
	}
}
