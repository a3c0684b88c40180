package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// driftWorld is a store where acme deployed v1 then v2 (two deploy dirs) and v2 is
// backed up.
type driftWorld struct {
	s              *Store
	plain          bool // PlaintextDeploy
	dir            string
	v1, v2         []byte
	target, prev   string // deploy dirs of v2 (deployed) and v1
	deployedModel  string // the model file in the deployed dir
	previousModel  string
	deployedOption DeployOption
}

func newDriftWorld(t *testing.T, encrypted, plain bool) *driftWorld {
	t.Helper()
	s, _ := newStore(t, encrypted, "acme")
	w := &driftWorld{s: s, plain: plain, v1: randomBytes(80, 120<<10), v2: randomBytes(81, 130<<10), deployedOption: PlaintextDeploy(plain)}
	w.dir, _ = s.OrgDir("acme")
	mustPut(t, s, "acme", "v1", w.v1)
	mustPut(t, s, "acme", "v2", w.v2)
	mustDeploy(t, s, "v1", w.deployedOption)
	w.prev = w.readTarget(t)
	mustDeploy(t, s, "v2", w.deployedOption)
	w.target = w.readTarget(t)
	mustBackup(t, s, "v2")
	name := EncryptedModelFile
	if plain || !encrypted {
		name = ModelFile
	}
	w.deployedModel = filepath.Join(w.dir, w.target, name)
	w.previousModel = filepath.Join(w.dir, w.prev, name)
	return w
}

func (w *driftWorld) readTarget(t *testing.T) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(w.dir, DeployedLink))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func (w *driftWorld) check(t *testing.T) DriftReport {
	t.Helper()
	rep, err := w.s.CheckDeployed(context.Background(), "acme", "v2", "sha256:manifest-v2")
	if err != nil {
		t.Fatalf("CheckDeployed: %v", err)
	}
	return rep
}

// replaceFile puts data at path under a new inode (the store's hard links keep theirs).
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func kinds(rep DriftReport) []DriftKind {
	var out []DriftKind
	for _, d := range rep.Drift {
		out = append(out, d.Kind)
	}
	return out
}

// TestDriftDetectedAndRepaired changes the deployed dir behind Talon's back in each way;
// CheckDeployed names the difference, RepairDeployed restores it, and the deployed model
// reads back whole.
func TestDriftDetectedAndRepaired(t *testing.T) {
	cases := []struct {
		name      string
		onlyPlain bool // needs a plaintext model file of its own in the deploy dir
		tamper    func(t *testing.T, w *driftWorld)
		want      []DriftKind
	}{
		{"symlink deleted", false, func(t *testing.T, w *driftWorld) {
			os.Remove(filepath.Join(w.dir, DeployedLink))
		}, []DriftKind{DriftMissingLink}},
		{"model replaced by other bytes", false, func(t *testing.T, w *driftWorld) {
			b, _ := os.ReadFile(w.previousModel) // v1's valid file: right key, wrong version
			replaceFile(t, w.deployedModel, b)
		}, []DriftKind{DriftChangedFile}},
		{"byte flipped in the plaintext model", true, func(t *testing.T, w *driftWorld) {
			flipBit(t, w.deployedModel, 1000)
		}, []DriftKind{DriftChangedFile}},
		{"model removed", false, func(t *testing.T, w *driftWorld) {
			os.Remove(w.deployedModel)
		}, []DriftKind{DriftMissingFile}},
		{"model made a symlink", false, func(t *testing.T, w *driftWorld) {
			os.Remove(w.deployedModel)
			os.Symlink(w.previousModel, w.deployedModel)
		}, []DriftKind{DriftChangedFile}},
		{"deployment.json removed", false, func(t *testing.T, w *driftWorld) {
			os.Remove(filepath.Join(w.dir, w.target, DeploymentFile))
		}, []DriftKind{DriftMissingFile}},
		{"metadata.json garbled", false, func(t *testing.T, w *driftWorld) {
			replaceFile(t, filepath.Join(w.dir, w.target, MetadataFile), []byte("{not json"))
		}, []DriftKind{DriftChangedFile}},
		{"extra file", false, func(t *testing.T, w *driftWorld) {
			os.WriteFile(filepath.Join(w.dir, w.target, "libevil.so"), []byte("x"), 0o600)
		}, []DriftKind{DriftExtraFile}},
		{"pointed at the previous deploy", false, func(t *testing.T, w *driftWorld) {
			tmp := filepath.Join(w.dir, "link.tmp")
			os.Symlink(w.prev, tmp)
			os.Rename(tmp, filepath.Join(w.dir, DeployedLink))
		}, []DriftKind{DriftOtherVersion}},
		{"pointed outside the org", false, func(t *testing.T, w *driftWorld) {
			os.Remove(filepath.Join(w.dir, DeployedLink))
			os.Symlink(filepath.Join("..", "..", "backups", "acme"), filepath.Join(w.dir, DeployedLink))
		}, []DriftKind{DriftBadLink}},
		{"deploy dir removed", false, func(t *testing.T, w *driftWorld) {
			os.RemoveAll(filepath.Join(w.dir, w.target))
		}, []DriftKind{DriftMissingFile}},
		{"symlink replaced by a directory", false, func(t *testing.T, w *driftWorld) {
			os.Remove(filepath.Join(w.dir, DeployedLink))
			os.Mkdir(filepath.Join(w.dir, DeployedLink), 0o700)
		}, []DriftKind{DriftBadLink}},
		{"symlink and stored version deleted (restored from backups)", false, func(t *testing.T, w *driftWorld) {
			os.Remove(filepath.Join(w.dir, DeployedLink))
			f := w.s.files(w.dir, "v2")
			os.Remove(f.meta)
			os.Remove(f.model)
		}, []DriftKind{DriftMissingLink}},
	}
	modes := []struct {
		name             string
		encrypted, plain bool
	}{{"encrypted", true, false}, {"encrypted-plaintext-deploy", true, true}, {"plaintext-store", false, false}}
	for _, m := range modes {
		for _, c := range cases {
			if c.onlyPlain && !(m.encrypted && m.plain) {
				continue
			}
			t.Run(m.name+"/"+c.name, func(t *testing.T) {
				w := newDriftWorld(t, m.encrypted, m.plain)
				if rep := w.check(t); !rep.Clean() {
					t.Fatalf("drift before tampering: %s", rep)
				}
				c.tamper(t, w)
				rep := w.check(t)
				if diff := cmp.Diff(c.want, kinds(rep)); diff != "" {
					t.Fatalf("drift found (-want +got):\n%s\nreport: %s", diff, rep)
				}
				ctx := context.Background()
				if err := w.s.RepairDeployed(ctx, "acme", "v2", "c0ffee", w.deployedOption); err != nil {
					t.Fatalf("RepairDeployed: %v", err)
				}
				if rep := w.check(t); !rep.Clean() {
					t.Fatalf("drift after repair: %s", rep)
				}
				b, rec, dep, err := w.s.Deployed("acme")
				if err != nil || !bytes.Equal(b, w.v2) || rec.Version != "v2" || dep.Plaintext != (m.plain || !m.encrypted) {
					t.Fatalf("Deployed after repair: %s %+v, %v", rec.Version, dep, err)
				}
			})
		}
	}
}

// TestRepairRefusesDamagedStore: bytes written in place into an encrypted deploy dir's
// model also change the stored version (a hard link): repair refuses it as ErrCorrupt,
// and works once the version is quarantined and pulled again.
func TestRepairRefusesDamagedStore(t *testing.T) {
	s, _ := newStore(t, true, "acme")
	ctx := context.Background()
	v1 := randomBytes(82, 100<<10)
	mustPut(t, s, "acme", "v1", v1)
	mustDeploy(t, s, "v1")
	dir, _ := s.OrgDir("acme")
	target, _ := os.Readlink(filepath.Join(dir, DeployedLink))
	flipBit(t, filepath.Join(dir, target, EncryptedModelFile), 3000)
	rep, err := s.CheckDeployed(ctx, "acme", "v1", "")
	if err != nil || !cmp.Equal(kinds(rep), []DriftKind{DriftChangedFile}) {
		t.Fatalf("CheckDeployed = %s, %v", rep, err)
	}
	if err := s.RepairDeployed(ctx, "acme", "v1", "c0ffee"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("RepairDeployed with a damaged stored copy: %v, want ErrCorrupt", err)
	}
	if _, err := s.Quarantine(ctx, "acme", "v1"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "acme", "v1", v1)
	if err := s.RepairDeployed(ctx, "acme", "v1", "c0ffee"); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.CheckDeployed(ctx, "acme", "v1", ""); err != nil || !rep.Clean() {
		t.Fatalf("after repair: %s, %v", rep, err)
	}
}

// TestCheckDeployedKeyUnavailable: without the org's key the check fails instead of
// reporting drift.
func TestCheckDeployedKeyUnavailable(t *testing.T) {
	s, keyDir := newStore(t, true, "acme")
	mustPut(t, s, "acme", "v1", []byte("one"))
	mustDeploy(t, s, "v1")
	if err := os.Remove(filepath.Join(keyDir, "acme"+KeyExt)); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.CheckDeployed(context.Background(), "acme", "v1", ""); !errors.Is(err, ErrKeyUnavailable) {
		t.Fatalf("CheckDeployed without the key = %s, %v; want ErrKeyUnavailable", rep, err)
	}
}
