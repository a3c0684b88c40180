package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testKey = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE6LstuGDUK2MazDiI4olXB3CR0jI5
ePLLvZGfV3xe6h00CWBhJ2VN6OLXC7Alyx/kzvBXTdyq37fR+3v80I1zPQ==
-----END PUBLIC KEY-----
`

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for p, c := range files {
		m[p] = &fstest.MapFile{Data: []byte(c), Mode: 0o644}
	}
	return m
}

func mustLoad(t *testing.T, files map[string]string) *Config {
	t.Helper()
	cfg, err := Load(context.Background(), mapFS(files))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func orgNames(cfg *Config) []string {
	var out []string
	for _, o := range cfg.Orgs {
		out = append(out, o.Name)
	}
	return out
}

func problemLines(ps Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Error())
	}
	return out
}

func TestLoadExample(t *testing.T) {
	cfg, err := Load(context.Background(), os.DirFS("../examples/config-repo"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Problems) != 0 {
		t.Fatalf("example repository has problems:\n%s", cfg.Problems)
	}
	if diff := cmp.Diff([]string{"acme", "globex", "initech"}, orgNames(cfg)); diff != "" {
		t.Fatalf("orgs (-want +got):\n%s", diff)
	}
	initech := cfg.Org("initech")
	if initech.Model.Repository != "registry.example.com/initech/pdm" || initech.Model.Kind() != ByDigest || !initech.Suspend {
		t.Errorf("initech = %+v", initech.Model)
	}
	if got := cfg.Org("globex").Validation.MinAccuracy; got != 0.85 {
		t.Errorf("globex inherits minAccuracy %v, want 0.85 from talon.yaml", got)
	}
	if o := cfg.Org("globex").Origins["validation.minAccuracy"]; o.Kind != FromDefaults || o.File != RootFile {
		t.Errorf("globex minAccuracy origin = %v", o)
	}
	if len(cfg.Keys) != 3 || !strings.HasPrefix(string(cfg.Keys["keys/acme-ci.pub"]), "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("keys = %v", cfg.Keys)
	}
	if cfg.Root.PollInterval != time.Minute || cfg.Org("nobody") != nil {
		t.Errorf("root = %+v", cfg.Root)
	}
}

// TestLoadDefaultsLayering: org file over talon.yaml defaults over built-in; lists replace.
func TestLoadDefaultsLayering(t *testing.T) {
	cfg := mustLoad(t, map[string]string{
		"talon.yaml": "registry: {host: reg.example}\ndefaults:\n  trust: {allowUnsigned: true}\n  retention: {maxVersions: 4, maxAgeDays: 9}\n" +
			"  alerts: [{name: a, urlFromEnv: A}, {name: b, urlFromEnv: B}]\n",
		"orgs/acme.yaml":   "org: acme\nmodel: {repository: acme/pdm, version: v1}\nretention: {maxVersions: 2}\nalerts: [{name: c, urlFromEnv: C}]\n",
		"orgs/globex.yaml": "org: globex\nmodel: {repository: other.example/g, version: v1}\nalerts: []\n",
	})
	if len(cfg.Problems) > 0 {
		t.Fatal(cfg.Problems)
	}
	acme, globex := cfg.Org("acme"), cfg.Org("globex")
	for _, tc := range []struct{ name, got, want string }{
		{"acme repository gets registry.host", acme.Model.Repository, "reg.example/acme/pdm"},
		{"globex repository keeps its host", globex.Model.Repository, "other.example/g"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if acme.Retention.MaxVersions != 2 || acme.Retention.MaxAgeDays != 9 || acme.Retention.KeepDeployed != 3 {
		t.Errorf("acme retention = %+v, want maxVersions 2 (file), maxAgeDays 9 (defaults), keepDeployed 3 (built-in)", acme.Retention)
	}
	if len(acme.Alerts) != 1 || acme.Alerts[0].Name != "c" || len(globex.Alerts) != 0 {
		t.Errorf("alerts: acme %v globex %v; an org's list replaces the default", acme.Alerts, globex.Alerts)
	}
	origins := map[string]string{}
	for _, s := range acme.Explain() {
		origins[s.Path] = s.Origin.String()
	}
	want := map[string]string{
		"retention.maxVersions":  "orgs/acme.yaml:3:26",
		"retention.maxAgeDays":   "talon.yaml:4:43 (defaults)",
		"retention.keepDeployed": "built-in default",
		"alerts[0].name":         "orgs/acme.yaml:4:17",
		"alerts[0].events":       "built-in default",
		"trust.allowUnsigned":    "talon.yaml:3:26 (defaults)",
	}
	for p, w := range want {
		if origins[p] != w {
			t.Errorf("origin of %s = %q, want %q", p, origins[p], w)
		}
	}
}

func TestLoadRepoProblems(t *testing.T) {
	ok := "model: {repository: r.example/x, version: v1}\ntrust: {keys: [keys/k.pub]}\n"
	cfg := mustLoad(t, map[string]string{
		"keys/k.pub":           testKey,
		"keys/priv.key":        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
		"keys/cert.pem":        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"keys/garbage.pub":     "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		"orgs/good.yaml":       "org: good\n" + ok,
		"orgs/nokeys.yaml":     "org: nokeys\nmodel: {repository: r.example/x, version: v1}\n",
		"orgs/badkeys.yaml":    "org: badkeys\nmodel: {repository: r.example/x, version: v1}\ntrust: {keys: [keys/missing.pub, keys/priv.key, keys/cert.pem, keys/garbage.pub]}\n",
		"orgs/data.yaml":       "org: data\n" + ok + "validation: {dataset: {from: repo, path: data/none.csv}}\n",
		"orgs/old.yml":         "org: old\n" + ok,
		"orgs/mismatch.yaml":   "org: good\n" + ok,
		"orgs/README.md":       "not an org",
		"orgs/archive/x.yaml":  "ignored: true",
		"orgs/unsigned.yaml":   "org: unsigned\nmodel: {repository: r.example/x, version: v1}\ntrust: {allowUnsigned: true}\n",
		"orgs/Upper-Case.yaml": "org: Upper-Case\n" + ok,
		"unrelated/notes.yaml": "- whatever",
	})
	if diff := cmp.Diff([]string{"good", "unsigned"}, orgNames(cfg)); diff != "" {
		t.Errorf("valid orgs (-want +got):\n%s", diff)
	}
	want := []string{
		"orgs/Upper-Case.yaml:1:6: `org`: org name \"Upper-Case\" is not a lowercase DNS label (a-z, 0-9, '-', at most 63, alphanumeric at both ends)",
		"orgs/badkeys.yaml:3:16: trust key keys/missing.pub: no such file in the repository",
		"orgs/badkeys.yaml:3:34: trust key keys/priv.key: is a PRIVATE key: remove it from the repository now and rotate it; commit only the .pub file",
		"orgs/badkeys.yaml:3:49: trust key keys/cert.pem: PEM block \"CERTIFICATE\" is not a PUBLIC KEY",
		"orgs/badkeys.yaml:3:64: trust key keys/garbage.pub: the PUBLIC KEY block does not hold a valid PKIX public key (ECDSA, Ed25519 or RSA)",
		"orgs/data.yaml:4:42: validation set data/none.csv: no such file in the repository",
		"orgs/mismatch.yaml:1:6: org \"good\" does not match the file name \"mismatch.yaml\" (want org: mismatch, or rename the file)",
		"orgs/nokeys.yaml:1:1: no trust.keys: name the public keys that sign this org's models (or set trust.allowUnsigned: true, not for production)",
		"orgs/old.yml: org files end in .yaml: rename it to orgs/old.yaml",
	}
	if diff := cmp.Diff(want, problemLines(cfg.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	for _, org := range []string{"Upper-Case", "badkeys", "data", "mismatch", "nokeys", "old"} {
		if len(cfg.Broken[org]) == 0 {
			t.Errorf("org %s not in Broken %v", org, cfg.Broken)
		}
	}
	if _, ok := cfg.Keys["keys/priv.key"]; ok || len(cfg.Keys) != 1 {
		t.Errorf("Keys = %v, want only keys/k.pub", cfg.Keys)
	}
}

// TestLoadBrokenRoot: problems in talon.yaml break every org (each keeps its last good
// model) and are reported once; problems in inherited values point into talon.yaml once.
func TestLoadBrokenRoot(t *testing.T) {
	org := func(n string) string {
		return "org: " + n + "\nmodel: {repository: r.example/x, version: v1}\n"
	}
	cfg := mustLoad(t, map[string]string{
		"talon.yaml":       "pollInterval: 0s\nretention: {maxVersions: 3}\ndefaults:\n  trust: {keys: [keys/nope.pub]}\n  window: {schedule: '@daily'}\n",
		"orgs/acme.yaml":   org("acme"),
		"orgs/globex.yaml": org("globex"),
	})
	want := []string{
		"talon.yaml:1:15: `pollInterval` must be more than 0, got 0s",
		"talon.yaml:2:1: unknown key \"retention\" (org settings go under `defaults:`, as defaults.retention)",
		"talon.yaml:4:18: trust key keys/nope.pub: no such file in the repository",
		"talon.yaml:5:22: window: a schedule needs a `duration` (how long the window stays open, such as 4h)",
	}
	if diff := cmp.Diff(want, problemLines(cfg.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if len(cfg.Orgs) != 0 || len(cfg.Broken["acme"]) != 3 || len(cfg.Broken["globex"]) != 3 {
		t.Errorf("orgs %v broken %v: want both broken with 2 inherited problems + the talon.yaml note", orgNames(cfg), cfg.Broken)
	}
}

// TestLoadMalformedInputs: hostile files are refused quickly, with a clear message, and
// never hide the other orgs.
func TestLoadMalformedInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(p string, data []byte) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(outside, []byte("org: evil\nmodel: {repository: r.example/x, version: v1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write("keys/k.pub", []byte(testKey))
	write("orgs/good.yaml", []byte("org: good\nmodel: {repository: r.example/x, version: v1}\ntrust: {keys: [keys/k.pub]}\n"))
	write("orgs/huge.yaml", []byte("org: huge\n# "+strings.Repeat("x", 50<<20)+"\n"))
	write("orgs/garbage.yaml", []byte{0x7f, 'E', 'L', 'F', 0, 0, 1, 0xff, 0xfe})
	var laughs strings.Builder
	laughs.WriteString("a: &a [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 'b'; i <= 'j'; i++ {
		laughs.WriteString(string(i) + ": &" + string(i) + " [" + strings.Repeat("*"+string(i-1)+", ", 9) + "*" + string(i-1) + "]\n")
	}
	laughs.WriteString("org: laughs\nmodel: {repository: r.example/x, version: v1}\ntrust: {allowUnsigned: true}\nvalidation: {schema: {inputs: [{name: x, datatype: FP32, shape: *j}]}}\n")
	write("orgs/laughs.yaml", []byte(laughs.String()))
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	write("orgs/deep.yaml", []byte("org: deep\nmodel: "+deep+"\n"))
	if err := os.Symlink(outside, filepath.Join(dir, "orgs/evil.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(dir, "keys/linked")); err != nil {
		t.Fatal(err)
	}
	write("orgs/sneaky.yaml", []byte("org: sneaky\nmodel: {repository: r.example/x, version: v1}\ntrust: {keys: [keys/linked/secret.yaml]}\n"))

	start := time.Now()
	cfg, err := Load(context.Background(), os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded in %v", time.Since(start)) // informational; the limits are what bound it
	if diff := cmp.Diff([]string{"good"}, orgNames(cfg)); diff != "" {
		t.Errorf("valid orgs (-want +got):\n%s", diff)
	}
	// Each hostile org is broken with a problem that starts like this.
	want := map[string]string{
		"deep":    "orgs/deep.yaml:2:1: YAML syntax: exceeded max depth",
		"evil":    "orgs/evil.yaml: is a symlink; Talon reads only regular files",
		"garbage": "orgs/garbage.yaml: not a UTF-8 text file",
		"huge":    "orgs/huge.yaml: is 52428813 bytes, over the 1048576-byte limit; refused without reading",
		"laughs":  "orgs/laughs.yaml:9:4: `validation.schema.inputs[0].shape[0]` must be an integer, got a list",
		"sneaky":  "orgs/sneaky.yaml:3:16: trust key keys/linked/secret.yaml: keys/linked is a symlink",
	}
	for org, prefix := range want {
		ps := cfg.Broken[org]
		if !strings.Contains(ps.Error(), prefix) {
			t.Errorf("%s: problems %v, want one starting with %q", org, ps, prefix)
		}
	}
}

// TestLoadAliasBudget: a file that expands to more than MaxNodes through aliases is cut off
// with one problem, however the aliases nest.
func TestLoadAliasBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("org: bomb\nmodel: {repository: r.example/x, version: v1}\ntrust: {allowUnsigned: true}\n")
	b.WriteString("x: &a {name: x, datatype: FP32, shape: [1]}\n")
	b.WriteString("validation: {schema: {inputs: [" + strings.Repeat("*a, ", 30000) + "*a]}}\n")
	cfg := mustLoad(t, map[string]string{"orgs/bomb.yaml": b.String()})
	ps := cfg.Broken["bomb"]
	found := false
	for _, p := range ps {
		found = found || strings.Contains(p.Msg, "more than 20000 YAML nodes")
	}
	if !found || len(ps) > maxFileProblems+1 {
		t.Errorf("got %d problems, want the node budget among at most %d:\n%v", len(ps), maxFileProblems+1, ps)
	}
}

func TestLoadEmptyAndCancelled(t *testing.T) {
	cfg := mustLoad(t, map[string]string{"README.md": "hi"})
	if len(cfg.Problems) != 0 || len(cfg.Orgs) != 0 || cfg.Root.StatusBranch != "talon-status" {
		t.Errorf("empty repo: %+v", cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Load(ctx, mapFS(map[string]string{"orgs/a.yaml": "org: a"})); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Load = %v", err)
	}
}
