package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func modelName(s *Store, version string) string {
	if s.Encrypted() {
		return "model_" + version + ".onnx.age"
	}
	return "model_" + version + ".onnx"
}

func mustDeploy(t *testing.T, s *Store, version string, opts ...DeployOption) {
	t.Helper()
	if err := s.Deploy(context.Background(), "acme", version, "c0ffee", opts...); err != nil {
		t.Fatalf("Deploy %s: %v", version, err)
	}
}

func mustBackup(t *testing.T, s *Store, want string) {
	t.Helper()
	if got, err := s.Backup(context.Background(), "acme"); err != nil || got != want {
		t.Fatalf("Backup = %q, %v; want %q", got, err, want)
	}
}

func TestBackupAndRestore(t *testing.T) { bothModes(t, testBackupAndRestore) }

// testBackupAndRestore: the deployed version is kept (hard links, encrypted like
// models/), idempotently, and restored into models/ after it was deleted there.
func testBackupAndRestore(t *testing.T, s *Store) {
	ctx := context.Background()
	v1, v2 := randomBytes(60, 200<<10), randomBytes(61, 100<<10)
	mustPut(t, s, "acme", "v1", v1)
	mustPut(t, s, "acme", "v2", v2)
	report := []byte(`{"digest":"sha256:manifest-v1","passed":true}`)
	if err := s.PutReport(ctx, "acme", "v1", report); err != nil {
		t.Fatal(err)
	}
	mustBackup(t, s, "") // nothing deployed yet
	mustDeploy(t, s, "v1")
	mustBackup(t, s, "v1")
	mustBackup(t, s, "v1") // idempotent
	recs, err := s.Backups("acme")
	if err != nil || len(recs) != 1 || recs[0].Version != "v1" || recs[0].ModelDigest != digestOf(v1) {
		t.Fatalf("Backups = %+v, %v", recs, err)
	}
	bdir, _ := s.BackupDir("acme")
	want := []string{"model_v1.deployment.json", "model_v1.metadata.json", modelName(s, "v1"), "model_v1.validation.json"}
	sort.Strings(want)
	if diff := cmp.Diff(want, dirNames(t, bdir)); diff != "" {
		t.Fatalf("backup files (-want +got):\n%s", diff)
	}
	model, _, _ := s.versionPaths("acme", "v1")
	a, _ := os.Stat(model)
	b, _ := os.Stat(filepath.Join(bdir, modelName(s, "v1")))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Fatal("backup model is not a hard link of the stored version")
	}
	if s.Encrypted() {
		if hits := plaintextHits(t, s.Root(), v1); len(hits) != 0 {
			t.Fatalf("plaintext of v1 on disk: %v", hits)
		}
	}

	mustDeploy(t, s, "v2")
	if err := s.Delete(ctx, "acme", "v1", From(InModels)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup("acme", "v1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup after delete: %v", err)
	}
	for range 2 { // the second is a no-op
		if err := s.RestoreBackup(ctx, "acme", "v1"); err != nil {
			t.Fatal(err)
		}
	}
	got, rec, err := s.ReadModel("acme", "v1")
	if err != nil || !bytes.Equal(got, v1) || rec.Digest != "sha256:manifest-v1" {
		t.Fatalf("ReadModel of the restored version: %v", err)
	}
	if r, err := s.Report("acme", "v1"); err != nil || !bytes.Equal(r, report) {
		t.Fatalf("restored report = %q, %v", r, err)
	}
	mustDeploy(t, s, "v1")
	if b, _, _, err := s.Deployed("acme"); err != nil || !bytes.Equal(b, v1) {
		t.Fatalf("Deployed after restoring: %v", err)
	}
	if err := s.RestoreBackup(ctx, "acme", "v2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RestoreBackup without a backup: %v, want ErrNotFound", err)
	}
	if _, err := s.Backup(ctx, "../etc"); err == nil {
		t.Fatal("Backup of a traversing org name accepted")
	}
	if err := s.RestoreBackup(ctx, "acme", "../../v1"); err == nil {
		t.Fatal("RestoreBackup of a traversing version accepted")
	}
}

// TestBackupCopiesWhenLinksFail: without hard links (another file system), the backup
// is a durable, still encrypted copy, and a damaged copy is refused on restore.
func TestBackupCopiesWhenLinksFail(t *testing.T) {
	s, _ := newStore(t, true, "acme")
	s.testHookLink = func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EXDEV}
	}
	ctx := context.Background()
	v1 := randomBytes(62, 300<<10)
	mustPut(t, s, "acme", "v1", v1)
	mustPut(t, s, "acme", "v2", []byte("two"))
	mustDeploy(t, s, "v1")
	mustBackup(t, s, "v1")
	bdir, _ := s.BackupDir("acme")
	backup := filepath.Join(bdir, modelName(s, "v1"))
	model, _, _ := s.versionPaths("acme", "v1")
	a, _ := os.Stat(model)
	b, _ := os.Stat(backup)
	if a == nil || b == nil || os.SameFile(a, b) {
		t.Fatalf("want a separate copy: %v %v", a, b)
	}
	if hits := plaintextHits(t, s.Root(), v1); len(hits) != 0 {
		t.Fatalf("plaintext on disk: %v", hits)
	}
	mustDeploy(t, s, "v2")
	if err := s.Delete(ctx, "acme", "v1", From(InModels)); err != nil {
		t.Fatal(err)
	}
	flipBit(t, backup, len(v1)/2)
	if err := s.RestoreBackup(ctx, "acme", "v1"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("RestoreBackup of a damaged copy: %v, want ErrCorrupt", err)
	}
	dir, _ := s.OrgDir("acme")
	if exists(model) || exists(filepath.Join(dir, "model_v1.metadata.json")) {
		t.Fatal("a damaged backup was restored")
	}
}

// TestBackupFromDeployDir: when the deployed version is gone from models/ (quarantined),
// Backup takes the deploy dir's files; a plaintext deploy is encrypted again.
func TestBackupFromDeployDir(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(map[bool]string{false: "encrypted-deploy", true: "plaintext-deploy"}[plain], func(t *testing.T) {
			s, _ := newStore(t, true, "acme")
			ctx := context.Background()
			v1 := randomBytes(63, 150<<10)
			mustPut(t, s, "acme", "v1", v1)
			mustDeploy(t, s, "v1", PlaintextDeploy(plain))
			if _, err := s.Quarantine(ctx, "acme", "v1"); err != nil {
				t.Fatal(err)
			}
			mustBackup(t, s, "v1")
			if hits := plaintextHits(t, filepath.Join(s.Root(), "backups"), v1); len(hits) != 0 {
				t.Fatalf("plaintext in backups: %v", hits)
			}
			if err := s.RestoreBackup(ctx, "acme", "v1"); err != nil {
				t.Fatal(err)
			}
			if got, _, err := s.ReadModel("acme", "v1"); err != nil || !bytes.Equal(got, v1) {
				t.Fatalf("ReadModel after restore: %v", err)
			}
		})
	}
}

// TestBackupRefusesDamagedModel: a deployed model changed on disk is not backed up.
func TestBackupRefusesDamagedModel(t *testing.T) { bothModes(t, testBackupRefusesDamagedModel) }

func testBackupRefusesDamagedModel(t *testing.T, s *Store) {
	v1 := randomBytes(64, 100<<10)
	mustPut(t, s, "acme", "v1", v1)
	mustDeploy(t, s, "v1")
	model, _, _ := s.versionPaths("acme", "v1")
	flipBit(t, model, 5000) // in place: the deploy dir's hard link sees it too
	if v, err := s.Backup(context.Background(), "acme"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Backup of a damaged model = %q, %v; want ErrCorrupt", v, err)
	}
	if recs, err := s.Backups("acme"); err != nil || len(recs) != 0 {
		t.Fatalf("Backups = %+v, %v; want none", recs, err)
	}
}

// TestBackupReplacesOtherDigest: the same version pushed again with other bytes replaces
// its older backup.
func TestBackupReplacesOtherDigest(t *testing.T) { bothModes(t, testBackupReplacesOtherDigest) }

func testBackupReplacesOtherDigest(t *testing.T, s *Store) {
	ctx := context.Background()
	old, repushed := []byte("first push of v1"), []byte("second push of v1, other bytes")
	mustPut(t, s, "acme", "v1", old)
	mustPut(t, s, "acme", "v2", []byte("two"))
	mustDeploy(t, s, "v1")
	mustBackup(t, s, "v1")
	mustPut(t, s, "acme", "v1", repushed)
	mustDeploy(t, s, "v1")
	mustBackup(t, s, "v1")
	mustDeploy(t, s, "v2")
	if err := s.Delete(ctx, "acme", "v1", From(InModels)); err != nil {
		t.Fatal(err)
	}
	if err := s.RestoreBackup(ctx, "acme", "v1"); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.ReadModel("acme", "v1"); err != nil || !bytes.Equal(got, repushed) {
		t.Fatalf("restored %q, %v; want the second push", got, err)
	}
}

// TestBackupSurvivesRekey: Rekey re-encrypts backups; they restore with the new key alone.
func TestBackupSurvivesRekey(t *testing.T) {
	s, _ := newStore(t, true, "acme")
	ctx := context.Background()
	s.testHookLink = func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EXDEV}
	}
	v1 := randomBytes(65, 120<<10)
	mustPut(t, s, "acme", "v1", v1)
	mustPut(t, s, "acme", "v2", []byte("two"))
	mustDeploy(t, s, "v1")
	mustBackup(t, s, "v1")
	mustDeploy(t, s, "v2")
	res, err := s.Rekey(ctx, "acme")
	if err != nil || len(res.Skipped) != 0 {
		t.Fatalf("Rekey = %+v, %v", res, err)
	}
	if err := s.Delete(ctx, "acme", "v1", From(InModels)); err != nil {
		t.Fatal(err)
	}
	if err := s.RestoreBackup(ctx, "acme", "v1"); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.ReadModel("acme", "v1"); err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("ReadModel after rekey and restore: %v", err)
	}
	bdir, _ := s.BackupDir("acme")
	for _, n := range dirNames(t, bdir) {
		if strings.HasPrefix(n, ".tmp-") {
			t.Fatalf("temporary file left in backups: %s", n)
		}
	}
}
