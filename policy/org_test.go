package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseOrgValid(t *testing.T) {
	src := "org: acme\nmodel:\n  repository: 127.0.0.1:5000/acme/pdm\n  version: v1.2.0\n"
	got, err := ParseOrg("orgs/acme.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Org{Name: "acme", File: "orgs/acme.yaml", Policy: BuiltinDefaults(),
		Model: ModelRef{Repository: "127.0.0.1:5000/acme/pdm", Version: "v1.2.0"}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Org{}, "Origins")); diff != "" {
		t.Fatalf("ParseOrg mismatch (-want +got):\n%s", diff)
	}
	if got.Model.Reference() != "127.0.0.1:5000/acme/pdm:v1.2.0" || got.Model.Kind() != ByTag {
		t.Fatalf("Reference() = %s, Kind() = %v", got.Model.Reference(), got.Model.Kind())
	}
	if o := got.Origins["model.version"]; o != (Origin{Kind: FromFile, File: "orgs/acme.yaml", Line: 4, Column: 12}) {
		t.Errorf("origin of model.version = %+v", o)
	}
}

// TestParseOrgAllFields decodes every key of the schema and checks the values landed.
func TestParseOrgAllFields(t *testing.T) {
	src := `org: acme
model: {repository: localhost:5000/acme/pdm, semver: ">=1.4 <2"}
suspend: true
plaintextDeploy: true
trust: {keys: [keys/a.pub], allowUnsigned: false}
validation:
  minAccuracy: 0.9
  maxP50Latency: 5ms
  maxP99Latency: 1.5s
  maxModelSize: 10MiB
  schema:
    inputs: [{name: x, datatype: FP32, shape: [-1, 6]}]
    outputs: [{name: y, datatype: INT64, shape: [-1]}]
  dataset: {from: repo, path: data/v.csv}
retention: {maxVersions: 0, minAccuracy: 0.5, maxAgeDays: 30, keepDeployed: 1, schedule: "0 3 * * *"}
window: {schedule: "0 22 * * 1-5", duration: 1d2h, timezone: Europe/Berlin}
monitoring: {maxErrorRate: 0.01, maxP99Latency: 80ms, minAccuracy: 0.8, window: 10m, minSamples: 50, degradedFor: 0s, autoRollback: true}
alerts: [{name: ops, url: "https://hooks.example.com/x", events: [degraded]}, {name: pager, urlFromEnv: PAGER_URL}]
access: [{role: deployer, subjects: ["user:dana@example.com", "token:ci"]}]
cicd: {autoPromote: {semver: "~1.4"}}
`
	o, err := ParseOrg("orgs/acme.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := Org{
		Name: "acme", File: "orgs/acme.yaml", Suspend: true, PlaintextDeploy: true,
		Model: ModelRef{Repository: "localhost:5000/acme/pdm", Semver: ">=1.4 <2"},
		Policy: Policy{
			Trust: Trust{Keys: []string{"keys/a.pub"}},
			Validation: Validation{MinAccuracy: 0.9, MaxP50Latency: 5 * time.Millisecond, MaxP99Latency: 1500 * time.Millisecond,
				MaxModelSize: 10 << 20,
				Schema:       IOSchema{Inputs: []TensorSpec{{"x", "FP32", []int64{-1, 6}}}, Outputs: []TensorSpec{{"y", "INT64", []int64{-1}}}},
				Dataset:      Dataset{From: "repo", Path: "data/v.csv"}},
			Retention:  Retention{MaxVersions: 0, MinAccuracy: 0.5, MaxAgeDays: 30, KeepDeployed: 1, Schedule: "0 3 * * *"},
			Window:     Window{Schedule: "0 22 * * 1-5", Duration: 26 * time.Hour, Timezone: "Europe/Berlin"},
			Monitoring: Monitoring{MaxErrorRate: 0.01, MaxP99Latency: 80 * time.Millisecond, MinAccuracy: 0.8, Window: 10 * time.Minute, MinSamples: 50, AutoRollback: true},
			Alerts: []Alert{{Name: "ops", URL: "https://hooks.example.com/x", Events: []string{"degraded"}},
				{Name: "pager", URLFromEnv: "PAGER_URL", Events: AllEvents}},
			Access: []Binding{{Role: "deployer", Subjects: []string{"user:dana@example.com", "token:ci"}}},
			CICD:   CICD{AutoPromote: &Promotion{Semver: "~1.4", To: "review", Branch: "talon/promote/acme"}},
		},
	}
	if diff := cmp.Diff(want, *o, cmpopts.IgnoreFields(Org{}, "Origins")); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if o.Model.Kind() != BySemver || o.Model.Reference() != "localhost:5000/acme/pdm" {
		t.Errorf("semver model: Kind %v Reference %q", o.Model.Kind(), o.Model.Reference())
	}
}

func TestParseOrgProblems(t *testing.T) {
	const head = "org: acme\nmodel: {repository: r.example/x, version: v1}\n"
	tests := []struct {
		name, file, src string
		want            []string // each must appear, in order, as one problem line (prefix)
	}{
		{"unknown key with suggestion", "orgs/acme.yaml",
			"org: acme\nmodle:\n  repository: r.example/x\n  version: v1\n",
			[]string{"orgs/acme.yaml:1:1: missing required key `model`", `orgs/acme.yaml:2:1: unknown key "modle" (did you mean "model"?)`}},
		{"all problems at once", "orgs/acme.yaml",
			"org: Acme\nmodel:\n  repository: r.example/x\n  verison: v1\n",
			[]string{"orgs/acme.yaml:1:6: `org`: org name \"Acme\" is not a lowercase DNS label",
				"orgs/acme.yaml:3:3: model: exactly one of `version`, `semver` or `digest` is required (got 0)",
				`orgs/acme.yaml:4:3: unknown key "model.verison" (did you mean "version"?)`}},
		{"traversal org name", "orgs/x.yaml",
			"org: ../../etc\nmodel: {repository: r.example/x, version: v1}\n",
			[]string{"orgs/x.yaml:1:6: `org`: org name \"../../etc\" is not a lowercase DNS label"}},
		{"file name mismatch", "orgs/globex.yaml", head,
			[]string{`orgs/globex.yaml:1:6: org "acme" does not match the file name "globex.yaml"`}},
		{"bad tag", "orgs/acme.yaml",
			"org: acme\nmodel: {repository: r.example/x, version: \"v1/../x\"}\n",
			[]string{"orgs/acme.yaml:2:43: `model.version`: version \"v1/../x\" is not a valid OCI tag"}},
		{"two of version semver digest", "orgs/acme.yaml",
			"org: acme\nmodel:\n  repository: r.example/x\n  version: v1\n  digest: sha256:" + strings.Repeat("a", 64) + "\n",
			[]string{"orgs/acme.yaml:3:3: model: exactly one of `version`, `semver` or `digest` is required (got 2)"}},
		{"bad digest", "orgs/acme.yaml", "org: acme\nmodel: {repository: r.example/x, digest: sha256:abc}\n",
			[]string{"orgs/acme.yaml:2:42: `model.digest`: \"sha256:abc\" is not a digest"}},
		{"bad semver", "orgs/acme.yaml", "org: acme\nmodel: {repository: r.example/x, semver: \">=banana\"}\n",
			[]string{"orgs/acme.yaml:2:42: `model.semver`: \">=banana\" is not a semver range"}},
		{"repository with tag", "orgs/acme.yaml", "org: acme\nmodel: {repository: \"r.example/x:v1\", version: v1}\n",
			[]string{"orgs/acme.yaml:2:21: `model.repository`: \"r.example/x:v1\" is not a repository"}},
		{"repository without host", "orgs/acme.yaml", "org: acme\nmodel: {repository: acme/pdm, version: v1}\n",
			[]string{"orgs/acme.yaml:2:21: model.repository \"acme/pdm\" names no registry host"}},
		{"syntax error", "orgs/acme.yaml", "org: acme\n\tmodel: x\n",
			[]string{"orgs/acme.yaml:2:1: YAML syntax: found a tab character"}},
		{"not a mapping", "orgs/acme.yaml", "- a\n- b\n",
			[]string{"orgs/acme.yaml:1:1: an org file must be a mapping with `org:` and `model:`, got a list"}},
		{"empty file", "orgs/acme.yaml", "# nothing\n",
			[]string{"orgs/acme.yaml: empty file"}},
		{"two documents", "orgs/acme.yaml", head + "---\norg: b\n",
			[]string{"orgs/acme.yaml:3:1: a second YAML document"}},
		{"binary", "orgs/acme.yaml", "org: acme\x00\x01\xff",
			[]string{"orgs/acme.yaml: not a UTF-8 text file"}},
		{"model empty", "orgs/acme.yaml", "org: acme\nmodel:\n",
			[]string{"orgs/acme.yaml:2:7: `model` must be a mapping, got nothing"}},
		{"model not mapping", "orgs/acme.yaml", "org: acme\nmodel: v1\n",
			[]string{"orgs/acme.yaml:2:8: `model` must be a mapping, got \"v1\""}},
		{"empty version", "orgs/acme.yaml", "org: acme\nmodel: {repository: r.example/x, version: }\n",
			[]string{"orgs/acme.yaml:2:43: `model.version` must be a non-empty string"}},
		{"duplicate key", "orgs/acme.yaml", "org: acme\norg: acme\nmodel: {repository: r.example/x, version: v1}\n",
			[]string{`orgs/acme.yaml:2:1: key "org" appears twice`}},
		{"accuracy out of range", "orgs/acme.yaml", head + "validation: {minAccuracy: 1.5}\nretention: {minAccuracy: -0.1}\n",
			[]string{"orgs/acme.yaml:3:27: `validation.minAccuracy` must be at most 1, got 1.5", "orgs/acme.yaml:4:26: `retention.minAccuracy` must be at least 0, got -0.1"}},
		{"negative count", "orgs/acme.yaml", head + "retention: {maxVersions: -1}\n",
			[]string{"orgs/acme.yaml:3:26: `retention.maxVersions` must be at least 0, got -1"}},
		{"wrong types", "orgs/acme.yaml", head + "suspend: yes\nretention: {maxVersions: ten, keepDeployed: 1.5}\nvalidation: {minAccuracy: high}\n",
			[]string{"orgs/acme.yaml:3:10: `suspend` must be true or false, got \"yes\"",
				"orgs/acme.yaml:4:26: `retention.maxVersions` must be an integer, got \"ten\"",
				"orgs/acme.yaml:4:45: `retention.keepDeployed` must be an integer, got \"1.5\"",
				"orgs/acme.yaml:5:27: `validation.minAccuracy` must be a number, got \"high\""}},
		{"bad durations", "orgs/acme.yaml", head + "monitoring: {window: 10, degradedFor: -5m, maxP99Latency: 3 days}\n",
			[]string{"orgs/acme.yaml:3:22: `monitoring.window`: \"10\" has no unit",
				"orgs/acme.yaml:3:39: `monitoring.degradedFor`: \"-5m\" is negative",
				"orgs/acme.yaml:3:59: `monitoring.maxP99Latency`: \"3 days\" is not a duration"}},
		{"zero window", "orgs/acme.yaml", head + "monitoring: {window: 0s}\n",
			[]string{"orgs/acme.yaml:3:22: `monitoring.window` must be more than 0, got 0s"}},
		{"bad cron", "orgs/acme.yaml", head + "retention: {schedule: \"61 * * * *\"}\nwindow: {schedule: \"0 0 30 2 *\", duration: 1h}\n",
			[]string{"orgs/acme.yaml:3:23: `retention.schedule`: cron \"61 * * * *\"", "orgs/acme.yaml:4:20: `window.schedule`: cron \"0 0 30 2 *\" never fires"}},
		{"window needs duration", "orgs/acme.yaml", head + "window: {schedule: \"@daily\"}\n",
			[]string{"orgs/acme.yaml:3:20: window: a schedule needs a `duration`"}},
		{"window @every", "orgs/acme.yaml", head + "window: {schedule: \"@every 1h\", duration: 1h}\n",
			[]string{"orgs/acme.yaml:3:20: `window.schedule`: a window opens at fixed times"}},
		{"window tz in cron", "orgs/acme.yaml", head + "window: {schedule: \"CRON_TZ=UTC 0 1 * * *\", duration: 1h, timezone: Mars/Base}\n",
			[]string{"orgs/acme.yaml:3:20: `window.schedule`: cron \"CRON_TZ=UTC 0 1 * * *\": set the time zone with `timezone`",
				"orgs/acme.yaml:3:69: `window.timezone`: \"Mars/Base\" is not an IANA time zone"}},
		{"bad size", "orgs/acme.yaml", head + "validation: {maxModelSize: 10 parsecs}\n",
			[]string{"orgs/acme.yaml:3:28: `validation.maxModelSize`: \"10 parsecs\" is not a size"}},
		{"bad enum with suggestion", "orgs/acme.yaml", head + "access: [{role: deployr, subjects: [\"user:a\"]}]\n",
			[]string{"orgs/acme.yaml:3:17: `access[0].role` must be one of viewer, deployer, admin, got \"deployr\" (did you mean \"deployer\"?)"}},
		{"bad subject and empty list", "orgs/acme.yaml", head + "access: [{role: admin, subjects: [alice]}, {role: viewer, subjects: []}]\n",
			[]string{"orgs/acme.yaml:3:35: `access[0].subjects[0]`: \"alice\" is not a subject", "orgs/acme.yaml:3:69: `access[1].subjects` must not be empty"}},
		{"webhook secrets", "orgs/acme.yaml", head + "alerts:\n- {name: a, url: \"https://u:p@h.example/x\"}\n- {name: b, url: \"http://h.example/x\"}\n- {name: c}\n- {name: c, url: \"https://h.example/y?token=s\", urlFromEnv: X}\n",
			[]string{"orgs/acme.yaml:4:18: `alerts[0].url`: webhook URL must not carry credentials",
				"orgs/acme.yaml:5:18: `alerts[1].url`: webhooks must use https",
				"orgs/acme.yaml:6:3: alerts[2]: exactly one of `url` or `urlFromEnv` is required",
				"orgs/acme.yaml:7:3: alerts[3]: exactly one of `url` or `urlFromEnv` is required",
				"orgs/acme.yaml:7:10: alerts[3]: name \"c\" is used twice",
				"orgs/acme.yaml:7:18: `alerts[3].url`: webhook URL must not carry credentials"}},
		{"dataset rules", "orgs/acme.yaml", head + "validation: {dataset: {from: repo}}\n",
			[]string{"orgs/acme.yaml:3:30: validation.dataset: from: repo needs a `path`"}},
		{"dataset path escapes", "orgs/acme.yaml", head + "validation: {dataset: {from: repo, path: ../secret.csv}}\n",
			[]string{"orgs/acme.yaml:3:42: `validation.dataset.path`: \"../secret.csv\" is not a path inside this repository"}},
		{"trust both ways", "orgs/acme.yaml", head + "trust: {keys: [k.pub, k.pub], allowUnsigned: true}\n",
			[]string{"orgs/acme.yaml:3:23: trust.keys: \"k.pub\" is listed twice", "orgs/acme.yaml:3:46: trust: allowUnsigned: true with keys"}},
		{"root key in org file", "orgs/acme.yaml", head + "pollInterval: 1m\n",
			[]string{`orgs/acme.yaml:3:1: unknown key "pollInterval" (it belongs in talon.yaml)`}},
		{"merge keys", "orgs/acme.yaml", "base: &b {maxVersions: 1}\n" + head + "retention: {<<: *b}\n",
			[]string{`orgs/acme.yaml:1:1: unknown key "base"`, "orgs/acme.yaml:4:13: merge keys (<<) are not supported"}},
		{"bad promotion", "orgs/acme.yaml", head + "cicd: {autoPromote: {to: main}}\n",
			[]string{"orgs/acme.yaml:3:21: missing required key `cicd.autoPromote.semver`", "orgs/acme.yaml:3:26: `cicd.autoPromote.to` must be one of review, direct"}},
		{"bad branch", "orgs/acme.yaml", head + "cicd: {autoPromote: {semver: '^1', branch: 'a..b'}}\n",
			[]string{"orgs/acme.yaml:3:44: `cicd.autoPromote.branch`: \"a..b\" is not a valid git branch name"}},
		{"bad tensor", "orgs/acme.yaml", head + "validation: {schema: {inputs: [{name: x, datatype: float, shape: [-2]}]}}\n",
			[]string{"orgs/acme.yaml:3:52: `validation.schema.inputs[0].datatype` must be one of", "orgs/acme.yaml:3:67: `validation.schema.inputs[0].shape[0]` must be at least -1, got -2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOrg(tc.file, []byte(tc.src))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d =\n  %q\nwant prefix\n  %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestParseDesiredIsolatesBrokenFiles(t *testing.T) {
	files := []File{
		{Path: "orgs/acme.yaml", Data: []byte("org: acme\nmodel: {repository: r.example/acme, version: v1}\n")},
		{Path: "orgs/broken.yaml", Data: []byte("org: broken\nmodel: {repository: r.example/b}\n")},
		{Path: "orgs/globex.yaml", Data: []byte("org: globex\nmodel: {repository: r.example/globex, version: v2}\n")},
	}
	d := ParseDesired(files)
	var names []string
	for _, o := range d.Orgs {
		names = append(names, o.Name)
	}
	if diff := cmp.Diff([]string{"acme", "globex"}, names); diff != "" {
		t.Fatalf("orgs (-want +got):\n%s", diff)
	}
	if ps := d.Broken["broken"]; len(ps) != 1 || !strings.Contains(ps[0].Error(), "exactly one of `version`") {
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
