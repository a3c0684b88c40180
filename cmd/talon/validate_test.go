package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

var update = flag.Bool("update", false, "rewrite the golden outputs of talon validate under testdata/config-repos")

const configRepos = "../../testdata/config-repos"

// validate runs `talon validate args...` and returns its stdout and exit code.
func validate(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"validate"}, args...))
	err := root.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		code = exitCode(err)
	}
	return out.String(), code
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/talon -run Golden -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-golden +got); if the change is intended, run go test ./cmd/talon -run Golden -update:\n%s", path, diff)
	}
}

// TestValidateGolden runs talon validate on every invalid repository under
// testdata/config-repos and compares its output with <name>.golden; exit code 1 each time.
func TestValidateGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(configRepos, "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			out, code := validate(t, dir)
			if code != 1 || out == "" {
				t.Errorf("exit %d, want 1 (problems); output:\n%s", code, out)
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if !strings.HasPrefix(line, "talon.yaml") && !strings.HasPrefix(line, "orgs/") {
					t.Errorf("line %q does not start with a repository path", line)
				}
			}
			golden(t, dir+".golden", out)
		})
	}
	if n < 8 {
		t.Fatalf("found %d invalid repositories, want at least 8", n)
	}
}

// TestValidateExample: the example repository is valid (exit 0) and --explain prints the
// effective settings with their origins.
func TestValidateExample(t *testing.T) {
	dir := "../../examples/config-repo"
	out, code := validate(t, dir)
	if code != 0 || out != dir+": valid (3 orgs)\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
	out, code = validate(t, "--explain", dir)
	if code != 0 {
		t.Errorf("--explain exit %d", code)
	}
	golden(t, filepath.Join(configRepos, "example.explain.golden"), out)
}

func TestValidateJSON(t *testing.T) {
	out, code := validate(t, "--format", "json", "--explain", filepath.Join(configRepos, "names"))
	var rep struct {
		Valid    bool
		Problems []struct {
			File    string
			Line    int
			Column  int
			Message string
		}
		Orgs    []string
		Broken  map[string][]json.RawMessage
		Explain map[string][]struct{ Path, Value, Origin string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if rep.Valid || len(rep.Problems) != 4 || rep.Problems[0].Line == 0 || rep.Problems[0].Message == "" {
		t.Errorf("report %+v", rep)
	}
	if diff := cmp.Diff([]string{"Initech", "acme", "ok", "umbrella"}, keys(rep.Broken)); diff != "" || len(rep.Orgs) != 0 {
		t.Errorf("broken (-want +got):\n%s orgs %v", diff, rep.Orgs)
	}
	if len(rep.Explain["talon.yaml"]) == 0 {
		t.Errorf("no explain for talon.yaml: %v", rep.Explain)
	}
	golden(t, filepath.Join(configRepos, "names.json.golden"), out)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestValidateUsage(t *testing.T) {
	for _, args := range [][]string{
		{"no/such/dir"},
		{"a", "b"},
		{"--format", "yaml", "."},
		{"--no-such-flag"},
		{"--resolve", "--insecure-registry", "http://x", "."},
	} {
		if _, code := validate(t, args...); code != 2 {
			t.Errorf("talon validate %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
}

// TestValidateResolve runs --resolve against a real in-process registry: a tag, a semver
// range and a digest that exist resolve; a missing tag and a range nothing matches are
// problems at their lines.
func TestValidateResolve(t *testing.T) {
	host := registrytest.Start(t)
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	var digest string
	for _, tag := range []string{"v1.4.0", "v1.4.2", "v2.0.0"} {
		d, err := c.Push(context.Background(), host+"/acme/pdm:"+tag, registry.PushInput{ModelPath: "../../testdata/pdm/pdm-v1.onnx"})
		if err != nil {
			t.Fatal(err)
		}
		digest = d.DigestStr()
	}
	dir := t.TempDir()
	write := func(p, s string) {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("talon.yaml", "registry: {host: "+host+"}\ndefaults: {trust: {allowUnsigned: true}}\n")
	write("orgs/tag.yaml", "org: tag\nmodel: {repository: acme/pdm, version: v1.4.2}\n")
	write("orgs/range.yaml", "org: range\nmodel: {repository: acme/pdm, semver: '~1.4'}\n")
	write("orgs/pinned.yaml", "org: pinned\nmodel: {repository: acme/pdm, digest: '"+digest+"'}\n")
	write("orgs/missing.yaml", "org: missing\nmodel: {repository: acme/pdm, version: v9}\n")
	write("orgs/nomatch.yaml", "org: nomatch\nmodel:\n  repository: acme/pdm\n  semver: '>=3'\n")

	out, code := validate(t, dir)
	if code != 0 || strings.Contains(out, "resolved") {
		t.Errorf("without --resolve: exit %d, output %q (must not touch the network)", code, out)
	}
	out, code = validate(t, "--resolve", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"orgs/missing.yaml:2:40: --resolve: resolve " + host + "/acme/pdm:v9: not found",
		"orgs/nomatch.yaml:4:11: --resolve: " + host + "/acme/pdm: no tag matches the semver range \">=3\" among 3 tags",
		"resolved pinned: " + host + "/acme/pdm@" + digest + " → " + digest,
		"resolved range: " + host + "/acme/pdm (semver ~1.4) → v1.4.2 → sha256:",
		"resolved tag: " + host + "/acme/pdm:v1.4.2 → sha256:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
