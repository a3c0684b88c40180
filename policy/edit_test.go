package policy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const editFile = "orgs/acme.yaml"

func TestSetModelVersion(t *testing.T) {
	for _, tc := range []struct {
		name, in, tag, want string
	}{
		{"block", "org: acme\nmodel:\n  repository: r.example/acme/pdm\n  version: v1.2.0\n", "v1.3.0",
			"org: acme\nmodel:\n  repository: r.example/acme/pdm\n  version: v1.3.0\n"},
		{"block, version first, longer tag", "org: acme\nmodel:\n    version: v1\n    repository: r.example/acme/pdm\n", "v1.10.0-rc.1",
			"org: acme\nmodel:\n    version: v1.10.0-rc.1\n    repository: r.example/acme/pdm\n"},
		{"flow", "org: acme\nmodel: {repository: r.example/acme/pdm, version: v1}\nsuspend: false\n", "v2",
			"org: acme\nmodel: {repository: r.example/acme/pdm, version: v2}\nsuspend: false\n"},
		{"flow, version first, no spaces", "org: acme\nmodel: {version: v1,repository: r.example/acme/pdm}\n", "v22",
			"org: acme\nmodel: {version: v22,repository: r.example/acme/pdm}\n"},
		{"single-quoted", "org: acme\nmodel:\n  repository: r.example/acme/pdm\n  version: 'v1'\n", "v2",
			"org: acme\nmodel:\n  repository: r.example/acme/pdm\n  version: 'v2'\n"},
		{"double-quoted", "org: acme\nmodel: {repository: r.example/acme/pdm, version: \"v1\"}\n", "v2",
			"org: acme\nmodel: {repository: r.example/acme/pdm, version: \"v2\"}\n"},
		{"comment after the value", "org: acme\nmodel:\n  repository: r.example/acme/pdm\n  version: v1   # promoted by CI\n", "v2",
			"org: acme\nmodel:\n  repository: r.example/acme/pdm\n  version: v2   # promoted by CI\n"},
		{"comments and other keys elsewhere",
			"# acme production\norg: acme # the tenant\n\nmodel:\n  # where it lives\n  repository: r.example/acme/pdm\n  version: v1\n  # after\nretention: {maxVersions: 3} # keep few\n# end\n", "v2",
			"# acme production\norg: acme # the tenant\n\nmodel:\n  # where it lives\n  repository: r.example/acme/pdm\n  version: v2\n  # after\nretention: {maxVersions: 3} # keep few\n# end\n"},
		{"CRLF line endings", "org: acme\r\nmodel:\r\n  repository: r.example/acme/pdm\r\n  version: v1 # ci\r\n", "v2",
			"org: acme\r\nmodel:\r\n  repository: r.example/acme/pdm\r\n  version: v2 # ci\r\n"},
		{"non-ASCII comments on lines before", "# Modell für den Prüfstand — ölpumpe ✓\norg: acme # Größe\nmodel: {repository: r.example/acme/pdm, version: v1}\n", "v2",
			"# Modell für den Prüfstand — ölpumpe ✓\norg: acme # Größe\nmodel: {repository: r.example/acme/pdm, version: v2}\n"},
		{"non-ASCII earlier on the same line", "{org: acme, trust: {keys: [keys/prüfer-größe.pub]}, model: {repository: r.example/acme/pdm, version: v1}} # ✓\n", "v2",
			"{org: acme, trust: {keys: [keys/prüfer-größe.pub]}, model: {repository: r.example/acme/pdm, version: v2}} # ✓\n"},
		{"byte order mark", "\uFEFF{org: acme, model: {repository: r.example/acme/pdm, version: v1}}\n", "v2",
			"\uFEFF{org: acme, model: {repository: r.example/acme/pdm, version: v2}}\n"},
		{"plain 1.10 gets quoted", "org: acme\nmodel:\n  repository: r.example/acme/pdm\n  version: v1 # x\n", "1.10",
			"org: acme\nmodel:\n  repository: r.example/acme/pdm\n  version: \"1.10\" # x\n"},
		{"plain true gets quoted", "org: acme\nmodel: {repository: r.example/acme/pdm, version: v1}\n", "true",
			"org: acme\nmodel: {repository: r.example/acme/pdm, version: \"true\"}\n"},
		{"plain 1e3 gets quoted", "org: acme\nmodel: {repository: r.example/acme/pdm, version: v1}\n", "1e3",
			"org: acme\nmodel: {repository: r.example/acme/pdm, version: \"1e3\"}\n"},
		{"plain null gets quoted", "org: acme\nmodel: {repository: r.example/acme/pdm, version: v1}\n", "null",
			"org: acme\nmodel: {repository: r.example/acme/pdm, version: \"null\"}\n"},
		{"plain 0x1F gets quoted", "org: acme\nmodel: {repository: r.example/acme/pdm, version: v1}\n", "0x1F",
			"org: acme\nmodel: {repository: r.example/acme/pdm, version: \"0x1F\"}\n"},
		{"plain 012 gets quoted", "org: acme\nmodel: {repository: r.example/acme/pdm, version: v1}\n", "012",
			"org: acme\nmodel: {repository: r.example/acme/pdm, version: \"012\"}\n"},
		{"plain 1.2.3 stays plain", "org: acme\nmodel: {repository: r.example/acme/pdm, version: v1}\n", "1.2.3",
			"org: acme\nmodel: {repository: r.example/acme/pdm, version: 1.2.3}\n"},
		{"single-quoted 1.10 stays single-quoted", "org: acme\nmodel: {repository: r.example/acme/pdm, version: 'v1'}\n", "1.10",
			"org: acme\nmodel: {repository: r.example/acme/pdm, version: '1.10'}\n"},
		{"quoted old value 1.10 to plain-safe v2 keeps quotes", "org: acme\nmodel: {repository: r.example/acme/pdm, version: \"1.10\"}\n", "v2",
			"org: acme\nmodel: {repository: r.example/acme/pdm, version: \"v2\"}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := SetModelVersion(editFile, []byte(tc.in), tc.tag)
			if err != nil {
				t.Fatal(err)
			}
			if !changed {
				t.Error("changed = false, want true")
			}
			if diff := cmp.Diff(tc.want, string(out)); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s", diff)
			}
			o, err := ParseOrg(editFile, out)
			if err != nil {
				t.Fatalf("ParseOrg of the output: %v", err)
			}
			if o.Model.Version != tc.tag {
				t.Errorf("ParseOrg of the output: model.version = %q, want %q", o.Model.Version, tc.tag)
			}
		})
	}
}

func TestSetModelVersionUnchanged(t *testing.T) {
	for _, in := range []string{
		"org: acme\nmodel: {repository: r.example/acme/pdm, version: v1}\n",
		"org: acme\nmodel:\n  repository: r.example/acme/pdm\n  version: \"v1\" # same\n",
	} {
		data := []byte(in)
		out, changed, err := SetModelVersion(editFile, data, "v1")
		if err != nil || changed || !bytes.Equal(out, data) {
			t.Errorf("SetModelVersion(%q, v1) = %q, %v, %v; want the input unchanged", in, out, changed, err)
		}
	}
}

// TestSetModelVersionRegistryHost: an org file that relies on talon.yaml (here for the
// registry host) has a problem on its own; the edit keeps it and Load reads the new tag.
func TestSetModelVersionRegistryHost(t *testing.T) {
	in := "org: acme\nmodel: {repository: acme/pdm, version: v1}\n"
	if _, err := ParseOrg(editFile, []byte(in)); err == nil {
		t.Fatal("ParseOrg accepted a repository without host on its own; the test needs a file that relies on talon.yaml")
	}
	out, _, err := SetModelVersion(editFile, []byte(in), "v2")
	if err != nil {
		t.Fatal(err)
	}
	if want := "org: acme\nmodel: {repository: acme/pdm, version: v2}\n"; string(out) != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	cfg := mustLoad(t, map[string]string{"talon.yaml": "registry: {host: reg.example}\ndefaults: {trust: {allowUnsigned: true}}\n", editFile: string(out)})
	if len(cfg.Problems) > 0 {
		t.Fatal(cfg.Problems)
	}
	if v := cfg.Org("acme").Model.Version; v != "v2" {
		t.Errorf("Load: model.version = %q, want v2", v)
	}
}

func TestSetModelVersionRefuses(t *testing.T) {
	const model = "org: acme\nmodel:\n  repository: r.example/acme/pdm\n"
	for _, tc := range []struct {
		name, in, tag, want string
	}{
		{"invalid tag with ..", model + "  version: v1\n", "../x", "not a valid OCI tag"},
		{"empty tag", model + "  version: v1\n", "", "not a valid OCI tag"},
		{"tag with a space", model + "  version: v1\n", "v1 # x", "not a valid OCI tag"},
		{"pinned by semver", model + "  semver: '>=1.4 <2'\n", "v2", "orgs/acme.yaml:4:11: the org is pinned by model.semver, not by tag"},
		{"pinned by digest", model + "  digest: sha256:" + strings.Repeat("a", 64) + "\n", "v2", "orgs/acme.yaml:4:11: the org is pinned by model.digest"},
		{"no model.version", model, "v2", "orgs/acme.yaml:3:3: no model.version"},
		{"no model", "org: acme\nsuspend: true\n", "v2", "no `model:`"},
		{"empty file", "", "v2", "not an org file"},
		{"model not a mapping", "org: acme\nmodel: r.example/acme/pdm:v1\n", "v2", "model must be a mapping"},
		{"anchor on the version", model + "  version: &v v1\n", "v2", "anchors and aliases"},
		{"alias as the version", "org: acme\nx: &v v1\nmodel:\n  repository: r.example/acme/pdm\n  version: *v\n", "v2", "anchors and aliases"},
		{"alias as the model", "org: acme\nx: &m {repository: r.example/acme/pdm, version: v1}\nmodel: *m\n", "v2", "anchors and aliases"},
		{"anchor on the model", "org: acme\nmodel: &m {repository: r.example/acme/pdm, version: v1}\n", "v2", "anchors and aliases"},
		{"escape in a double-quoted value", model + "  version: \"v\\x31\"\n", "v2", "not \"v1\" as expected"},
		{"doubled quote in a single-quoted value", model + "  version: 'it''s'\n", "v2", "not 'it's' as expected"},
		{"plain value over two lines", model + "  version: v1\n    more\n", "v2", "not v1 more as expected"},
		{"literal block", model + "  version: |\n    v1\n", "v2", "plain or quoted scalar on one line"},
		{"explicit tag", model + "  version: !!str v1\n", "v2", "plain or quoted scalar on one line"},
		{"version a list", model + "  version: [v1]\n", "v2", "plain or quoted scalar"},
		{"binary data", "org: acme\x00", "v2", "not a UTF-8 text file"},
		{"YAML syntax error", "org: acme\nmodel: {version: v1\n", "v2", "YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := SetModelVersion(editFile, []byte(tc.in), tc.tag)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if out != nil || changed {
				t.Errorf("out = %q, changed = %v on error; want nil, false", out, changed)
			}
		})
	}
}

// TestCheckEdit exercises the last guard of SetModelVersion on edits it would never make itself.
func TestCheckEdit(t *testing.T) {
	data := []byte("org: acme\nmodel: {repository: acme/pdm, version: v1}\n")
	for _, tc := range []struct{ name, out, want string }{
		{"kept problem, right tag", "org: acme\nmodel: {repository: acme/pdm, version: v2}\n", ""},
		{"wrong tag", "org: acme\nmodel: {repository: acme/pdm, version: v3}\n", "does not read back"},
		{"new problem", "org: acme\nmodel: {repository: acme/pdm, version: v2}\nsuspend: 3\n", "would break the file"},
		{"syntax error", "org: acme\nmodel: {repository: acme/pdm, version: v2\n", "would break the file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkEdit(editFile, data, []byte(tc.out), "v2")
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("checkEdit = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOffsetOf(t *testing.T) {
	data := []byte("a\r\nüb\rc\u2028d\ne")
	for _, tc := range []struct {
		line, column, want int
		ok                 bool
	}{
		{1, 1, 0, true}, {2, 1, 3, true}, {2, 2, 5, true}, {3, 1, 7, true}, {4, 1, 11, true}, {5, 1, 13, true},
		{5, 2, 14, true}, {1, 5, 0, false}, {6, 1, 0, false},
	} {
		got, ok := offsetOf(data, tc.line, tc.column)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("offsetOf(%d:%d) = %d, %v; want %d, %v", tc.line, tc.column, got, ok, tc.want, tc.ok)
		}
	}
}
