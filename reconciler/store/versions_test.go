package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/policy"
)

// putVersion stores version with a creation time and metadata.
func putVersion(t *testing.T, s *Store, version string, data []byte, created time.Time, metadata string) Record {
	t.Helper()
	rec := Record{Org: "acme", Version: version, Digest: "sha256:manifest-" + version, ModelDigest: digestOf(data), Created: created}
	if metadata != "" {
		rec.Metadata = []byte(metadata)
	}
	rec, err := s.Put(context.Background(), rec, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// versionView is the part of VersionInfo the tests compare.
type versionView struct {
	Version             string
	InModels, InBackups bool
	Leftovers           Location
	Deployed            bool
	WasDeployed         bool
	Accuracy            float64
	AccuracySource      string
}

func viewOf(vs []VersionInfo) []versionView {
	var out []versionView
	for _, v := range vs {
		out = append(out, versionView{v.Version, v.InModels, v.InBackups, v.Leftovers, v.Deployed, !v.LastDeployed.IsZero(), v.Accuracy, v.AccuracySource})
	}
	return out
}

func deletedVersions(ds []policy.Deletion) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Version)
	}
	return out
}

func TestVersionsAndRetention(t *testing.T) { bothModes(t, testVersionsAndRetention) }

// testVersionsAndRetention: Versions reports where each version is, its accuracy (from
// the validation report for its digest, else the metadata) and deployments; the input it
// builds drives policy.Retain, and Delete carries the decision out in models/ and backups/.
func testVersionsAndRetention(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	day := 24 * time.Hour
	putVersion(t, s, "v1", []byte("one"), now.Add(-40*day), `{"accuracy":0.95}`)
	putVersion(t, s, "v2", []byte("two"), now.Add(-30*day), `{"accuracy":0.6}`)
	putVersion(t, s, "v3", []byte("three"), now.Add(-20*day), `{"name":"pdm"}`)
	putVersion(t, s, "v4", []byte("four"), now.Add(-10*day), `{"accuracy":0.91}`)
	reports := map[string]string{
		"v2": `{"digest":"sha256:manifest-v2","report":{"rows":100,"accuracy":0.97}}`,
		"v3": `{"digest":"sha256:another-push","report":{"rows":100,"accuracy":0.5}}`,
		"v4": `{"digest":"sha256:manifest-v4","report":{"rows":0,"accuracy":0}}`,
	}
	for v, r := range reports {
		if err := s.PutReport(ctx, "acme", v, []byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"v1", "v2", "v4"} {
		mustBackup(t, s, map[string]string{"v1": "", "v2": "v1", "v4": "v2"}[v])
		mustDeploy(t, s, v)
	}
	if err := s.Delete(ctx, "acme", "v1", From(InModels)); err != nil {
		t.Fatal(err)
	}
	vs, err := s.Versions("acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []versionView{
		{Version: "v4", InModels: true, Deployed: true, WasDeployed: true, Accuracy: 0.91, AccuracySource: "metadata"},
		{Version: "v3", InModels: true},
		{Version: "v2", InModels: true, InBackups: true, WasDeployed: true, Accuracy: 0.97, AccuracySource: "validation"},
		{Version: "v1", InBackups: true, WasDeployed: true, Accuracy: 0.95, AccuracySource: "metadata"},
	}
	if diff := cmp.Diff(want, viewOf(vs)); diff != "" {
		t.Fatalf("Versions (-want +got):\n%s", diff)
	}
	if !vs[2].LastDeployed.After(vs[3].LastDeployed) {
		t.Fatalf("v2 last deployed %v, not after v1 %v", vs[2].LastDeployed, vs[3].LastDeployed)
	}

	in := RetentionInput(vs, "", now)
	if in.Deployed != "v4" || len(in.Versions) != 4 || !in.Versions[0].Pushed.Equal(now.Add(-10*day)) {
		t.Fatalf("RetentionInput = %+v", in)
	}
	for _, c := range []struct {
		p    policy.Retention
		want []string
	}{
		{policy.Retention{MaxVersions: 2}, []string{"v1", "v2"}},
		{policy.Retention{MaxVersions: 2, KeepDeployed: 1}, []string{"v1"}},
		{policy.Retention{MinAccuracy: 0.92}, nil}, // v2's metadata says 0.6, its validation 0.97
		{policy.Retention{MaxAgeDays: 25}, []string{"v1", "v2"}},
	} {
		if diff := cmp.Diff(c.want, deletedVersions(policy.Retain(c.p, in))); diff != "" {
			t.Errorf("Retain(%+v) (-want +got):\n%s", c.p, diff)
		}
	}
	if got := deletedVersions(policy.Retain(policy.Retention{MinAccuracy: 0.96}, RetentionInput(vs, "v1", now))); got != nil {
		t.Errorf("minAccuracy 0.96 with v1 last good deletes %v; want none (v4 deployed, v1 last good, v2 measured 0.97)", got)
	}

	for _, d := range policy.Retain(policy.Retention{MaxVersions: 2}, in) {
		if err := s.Delete(ctx, "acme", d.Version); err != nil {
			t.Fatalf("Delete %s: %v", d.Version, err)
		}
	}
	vs, err = s.Versions("acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"v4", "v3"}, versionsOf(vs)); diff != "" {
		t.Fatalf("versions after retention (-want +got):\n%s", diff)
	}
	for _, dir := range []string{filepath.Join(s.Root(), "models", "acme"), filepath.Join(s.Root(), "backups", "acme")} {
		for _, n := range dirNames(t, dir) {
			if strings.HasPrefix(n, "model_v1.") || strings.HasPrefix(n, "model_v2.") || strings.HasPrefix(n, ".tmp-") {
				t.Errorf("%s left in %s", n, dir)
			}
		}
	}
	if b, _, _, err := s.Deployed("acme"); err != nil || string(b) != "four" {
		t.Fatalf("Deployed after retention: %q, %v", b, err)
	}
}

func versionsOf(vs []VersionInfo) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Version)
	}
	return out
}

func TestDeleteRefusals(t *testing.T) { bothModes(t, testDeleteRefusals) }

// testDeleteRefusals: the deployed version, protected versions, and anything while the
// deployed version cannot be told, are never deleted.
func testDeleteRefusals(t *testing.T, s *Store) {
	ctx := context.Background()
	mustPut(t, s, "acme", "v1", []byte("one"))
	mustPut(t, s, "acme", "v2", []byte("two"))
	mustDeploy(t, s, "v1")
	mustBackup(t, s, "v1")
	cases := []struct {
		version string
		opts    []DeleteOption
		want    error
	}{
		{"v1", nil, ErrProtected},
		{"v1", []DeleteOption{From(InBackups)}, ErrProtected},
		{"v2", []DeleteOption{Protect("v0", "v2")}, ErrProtected},
		{"v3", nil, ErrNotFound},
	}
	for _, c := range cases {
		if err := s.Delete(ctx, "acme", c.version, c.opts...); !errors.Is(err, c.want) {
			t.Errorf("Delete %s: %v, want %v", c.version, err, c.want)
		}
	}
	if err := s.Delete(ctx, "acme", "../v2"); err == nil {
		t.Error("Delete of a traversing version accepted")
	}
	link := filepath.Join(s.Root(), "models", "acme", DeployedLink)
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "acme", "v2"); !errors.Is(err, ErrDrift) {
		t.Errorf("Delete without the deployed symlink: %v, want ErrDrift", err)
	}
	if _, err := s.Versions("acme"); !errors.Is(err, ErrDrift) {
		t.Errorf("Versions without the deployed symlink: %v, want ErrDrift", err)
	}
	for _, v := range []string{"v1", "v2"} {
		if _, _, err := s.ReadModel("acme", v); err != nil {
			t.Errorf("%s damaged by a refused delete: %v", v, err)
		}
	}
	if recs, err := s.Backups("acme"); err != nil || len(recs) != 1 {
		t.Errorf("backup damaged by a refused delete: %+v, %v", recs, err)
	}
}

func TestDeleteCrashAtEveryStep(t *testing.T) { bothModes(t, testDeleteCrashAtEveryStep) }

// testDeleteCrashAtEveryStep cuts Delete short after each file it removes, then opens the
// store afresh: the version is whole or gone in each place (a record always has its
// model, intact), its leftovers are reported, and a second Delete finishes the job.
func testDeleteCrashAtEveryStep(t *testing.T, s0 *Store) {
	ctx := context.Background()
	v1 := randomBytes(70, 100<<10)
	steps, leftovers := -1, 0
	for k := 0; steps < 0; k++ {
		s := reopen(t, s0, t.TempDir())
		mustPut(t, s, "acme", "v1", v1)
		mustPut(t, s, "acme", "v2", []byte("two"))
		if err := s.PutReport(ctx, "acme", "v1", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		mustDeploy(t, s, "v1")
		mustBackup(t, s, "v1")
		mustDeploy(t, s, "v2")
		n := 0
		err := s.delete(ctx, "acme", "v1", nil, func(string) error {
			if n++; n == k+1 {
				return errCrash
			}
			return nil
		})
		if !errors.Is(err, errCrash) {
			if err != nil {
				t.Fatal(err)
			}
			steps = n
			break
		}
		s = reopen(t, s, s.Root())
		checkWholeOrGone(t, s, "v1")
		vs, err := s.Versions("acme")
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.Version == "v1" && v.Leftovers == 0 && !v.Stored() {
				t.Fatalf("crash after step %d: v1 listed with nothing", k+1)
			}
			if v.Version == "v1" && v.Leftovers != 0 {
				leftovers++
			}
		}
		if err := s.Delete(ctx, "acme", "v1"); err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatalf("crash after step %d: Delete again: %v", k+1, err)
		}
		if vs, err := s.Versions("acme"); err != nil || !cmp.Equal(versionsOf(vs), []string{"v2"}) {
			t.Fatalf("crash after step %d: versions after the second Delete: %v, %v", k+1, versionsOf(vs), err)
		}
		if b, _, _, err := s.Deployed("acme"); err != nil || string(b) != "two" {
			t.Fatalf("crash after step %d: Deployed = %q, %v", k+1, b, err)
		}
	}
	// models/: record, report, model; backups/: record, report, deployment note, model.
	if steps != 7 || leftovers == 0 {
		t.Fatalf("Delete removed %d files, want 7; leftovers reported after %d crashes", steps, leftovers)
	}
}

// reopen opens the store at root with s's options, as a restarted process would.
func reopen(t *testing.T, s *Store, root string) *Store {
	t.Helper()
	opt := WithoutEncryptionUnsafe()
	if s.Encrypted() {
		opt = WithKeyDir(s.keyDir)
	}
	s2, err := Open(root, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s2
}

// checkWholeOrGone: in models/ and backups/, version's record exists only with its
// intact model; without it, Lookup and ReadModel say ErrNotFound.
func checkWholeOrGone(t *testing.T, s *Store, version string) {
	t.Helper()
	dir, _ := s.OrgDir("acme")
	bdir, _ := s.BackupDir("acme")
	for _, d := range []string{dir, bdir} {
		f := s.files(d, version)
		rec, err := readRecord(f.meta)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", f.meta, err)
		}
		if err := s.verifyFile(context.Background(), "acme", f.model, rec, !s.Encrypted()); err != nil {
			t.Fatalf("record without an intact model: %v", err)
		}
	}
	if _, err := s.Lookup("acme", version); err != nil {
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Lookup: %v", err)
		}
		if _, _, err := s.ReadModel("acme", version); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ReadModel of a half-deleted version: %v, want ErrNotFound", err)
		}
	}
}
