package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"
)

// benchRepo is a config repository of n full org files (every section set, like
// examples/config-repo/orgs/acme.yaml) sharing one talon.yaml and two keys.
func benchRepo(b *testing.B, n int) fstest.MapFS {
	b.Helper()
	acme, err := os.ReadFile("../examples/config-repo/orgs/acme.yaml")
	if err != nil {
		b.Fatal(err)
	}
	root, err := os.ReadFile("../examples/config-repo/talon.yaml")
	if err != nil {
		b.Fatal(err)
	}
	fsys := fstest.MapFS{"talon.yaml": {Data: root}}
	for _, k := range []string{"acme-ci.pub", "ml-platform.pub"} {
		key, err := os.ReadFile("../examples/config-repo/keys/" + k)
		if err != nil {
			b.Fatal(err)
		}
		fsys["keys/"+k] = &fstest.MapFile{Data: key}
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("org-%04d", i)
		src := strings.ReplaceAll(string(acme), "acme", name)
		src = strings.ReplaceAll(src, "keys/"+name+"-ci.pub", "keys/acme-ci.pub")
		fsys["orgs/"+name+".yaml"] = &fstest.MapFile{Data: []byte(src)}
	}
	return fsys
}

// BenchmarkLoad1000Orgs loads and validates a repository of 1000 org files, from memory
// and from disk, against a baseline that only parses the same files with yaml.v3 into
// map[string]any (no schema, no checks): the floor of reading the YAML at all.
func BenchmarkLoad1000Orgs(b *testing.B) {
	fsys := benchRepo(b, 1000)
	dir := b.TempDir()
	if err := os.CopyFS(dir, fsys); err != nil {
		b.Fatal(err)
	}
	check := func(cfg *Config) {
		if len(cfg.Orgs) != 1000 || len(cfg.Problems) != 0 {
			b.Fatalf("%d orgs, problems %v", len(cfg.Orgs), cfg.Problems)
		}
	}
	b.Run("baseline-yaml-unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for p, f := range fsys {
				var v map[string]any
				if err := yaml.Unmarshal(f.Data, &v); err != nil && filepath.Ext(p) == ".yaml" {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("load-memory", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cfg, err := Load(context.Background(), fsys)
			if err != nil {
				b.Fatal(err)
			}
			check(cfg)
		}
	})
	b.Run("load-disk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cfg, err := Load(context.Background(), os.DirFS(dir))
			if err != nil {
				b.Fatal(err)
			}
			check(cfg)
		}
	})
}
