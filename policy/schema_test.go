package policy

import (
	"bufio"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the committed JSON Schemas (policy/schema/) from the Go types")

// TestSchemaDrift fails when the committed JSON Schemas differ from the ones the Go types
// generate. Run `go test ./policy -run SchemaDrift -update` after changing a type.
func TestSchemaDrift(t *testing.T) {
	for file, gen := range map[string][]byte{
		"schema/org.schema.json":   OrgSchema(),
		"schema/talon.schema.json": RootSchema(),
	} {
		if *update {
			if err := os.WriteFile(file, gen, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run: go test ./policy -run SchemaDrift -update)", err)
		}
		if diff := cmp.Diff(string(gen), string(got)); diff != "" {
			t.Errorf("%s drifted from the Go types (-generated +committed); run go test ./policy -run SchemaDrift -update:\n%s", file, diff)
		}
	}
}

// TestSchemaShape checks that the generated schema says what the decoder enforces for a
// few keys, so editors warn about the same mistakes talon validate reports.
func TestSchemaShape(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(OrgSchema(), &s); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var cur any = s
		for _, p := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("schema path %v: %v is not an object", path, cur)
			}
			cur = m[p]
		}
		return cur
	}
	for _, tc := range []struct {
		path []string
		want any
	}{
		{[]string{"additionalProperties"}, false},
		{[]string{"required"}, []any{"org", "model"}},
		{[]string{"properties", "org", "pattern"}, orgName.String()},
		{[]string{"properties", "validation", "properties", "minAccuracy", "maximum"}, 1.0},
		{[]string{"properties", "validation", "properties", "minAccuracy", "minimum"}, 0.0},
		{[]string{"properties", "retention", "properties", "maxVersions", "default"}, 10.0},
		{[]string{"properties", "retention", "properties", "schedule", "default"}, "@daily"},
		{[]string{"properties", "monitoring", "properties", "window", "default"}, "5m"},
		{[]string{"properties", "model", "oneOf"}, []any{
			map[string]any{"required": []any{"version"}}, map[string]any{"required": []any{"semver"}}, map[string]any{"required": []any{"digest"}}}},
		{[]string{"properties", "access", "items", "properties", "role", "enum"}, []any{"viewer", "deployer", "admin"}},
		{[]string{"properties", "validation", "properties", "schema", "properties", "inputs", "items", "properties", "shape", "items", "minimum"}, -1.0},
	} {
		if diff := cmp.Diff(tc.want, get(tc.path...)); diff != "" {
			t.Errorf("schema %s (-want +got):\n%s", strings.Join(tc.path, "."), diff)
		}
	}
}

// TestExampleFilesPointAtSchema: every YAML file of the example repository starts with the
// yaml-language-server comment naming the right schema, and that path exists.
func TestExampleFilesPointAtSchema(t *testing.T) {
	root := "../examples/config-repo"
	files, _ := filepath.Glob(filepath.Join(root, "orgs", "*.yaml"))
	files = append(files, filepath.Join(root, "talon.yaml"))
	if len(files) < 2 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := bufio.NewReader(fh).ReadString('\n')
		fh.Close()
		want := "org.schema.json"
		if filepath.Base(f) == "talon.yaml" {
			want = "talon.schema.json"
		}
		rel, ok := strings.CutPrefix(strings.TrimSpace(first), "# yaml-language-server: $schema=")
		if !ok || filepath.Base(rel) != want {
			t.Errorf("%s: first line %q, want # yaml-language-server: $schema=…/%s", f, first, want)
			continue
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(f), rel)); err != nil {
			t.Errorf("%s: schema %s: %v", f, rel, err)
		}
	}
}
