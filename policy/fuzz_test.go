package policy

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// seedFiles returns the YAML files of the example repository and the invalid repositories
// under testdata, as fuzz seeds.
func seedFiles(f *testing.F) [][]byte {
	var out [][]byte
	for _, root := range []string{"../examples/config-repo", "../testdata/config-repos"} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") && d.Type().IsRegular() {
				if b, err := os.ReadFile(p); err == nil && len(b) < 1<<16 {
					out = append(out, b)
				}
			}
			return nil
		})
	}
	if len(out) < 3 {
		f.Fatalf("only %d seed files", len(out))
	}
	return out
}

// FuzzParseOrg: any bytes give an Org or Problems, never a panic, and every problem names
// the file; a valid result round-trips through Explain without problems.
func FuzzParseOrg(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseOrg("orgs/acme.yaml", data)
		if err != nil {
			ps, ok := err.(Problems)
			if !ok || len(ps) == 0 {
				t.Fatalf("error %T %v is not Problems", err, err)
			}
			for _, p := range ps {
				if p.File != "orgs/acme.yaml" || p.Msg == "" || p.Line < 0 || p.Column < 0 {
					t.Fatalf("bad problem %+v", p)
				}
			}
			return
		}
		if o.Name != "acme" || ValidateOrgName(o.Name) != nil {
			t.Fatalf("valid org named %q", o.Name)
		}
		if o.Model.Kind() == ByTag && ValidateVersion(o.Model.Version) != nil {
			t.Fatalf("valid org with bad tag %q", o.Model.Version)
		}
		_ = o.Explain()
		_ = o.Fingerprint()
	})
}

// FuzzLoad: a repository of a fuzzed talon.yaml, a fuzzed org file and one fixed valid
// org always loads; the fixed org is valid unless talon.yaml is broken, and problems never
// leak between org files.
func FuzzLoad(f *testing.F) {
	seeds := seedFiles(f)
	for i, b := range seeds {
		f.Add([]byte("defaults: {trust: {allowUnsigned: true}}\n"), b)
		f.Add(seeds[(i+1)%len(seeds)], b)
	}
	f.Fuzz(func(t *testing.T, root, org []byte) {
		fsys := fstest.MapFS{
			"talon.yaml":       {Data: root},
			"orgs/acme.yaml":   {Data: org},
			"orgs/steady.yaml": {Data: []byte("org: steady\nmodel: {repository: r.example/s, version: v1}\ntrust: {allowUnsigned: true}\n")},
		}
		cfg, err := Load(context.Background(), fsys)
		if err != nil {
			t.Fatal(err)
		}
		rootBroken := false
		for _, p := range cfg.Problems {
			rootBroken = rootBroken || p.File == RootFile
			if p.File == "orgs/steady.yaml" {
				t.Fatalf("a problem in the steady org: %v", p)
			}
		}
		steady := cfg.Org("steady")
		if !rootBroken && steady == nil {
			// talon.yaml may make steady invalid only through inherited values.
			for _, p := range cfg.Broken["steady"] {
				if p.File != RootFile {
					t.Fatalf("steady broken by %v", p)
				}
			}
		}
		if len(cfg.Problems) == 0 != (len(cfg.Broken) == 0) {
			t.Fatalf("problems %v but broken %v", cfg.Problems, cfg.Broken)
		}
	})
}
