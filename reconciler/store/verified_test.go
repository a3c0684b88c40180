package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCheckedFilesNotReadAgain(t *testing.T) { bothModes(t, testCheckedFilesNotReadAgain) }

// testCheckedFilesNotReadAgain: a version Talon stored and deployed is not read back by
// the drift check or a backup while its stamp is unchanged; any change of the stamp
// (chmod, an in-place edit whose modification time was put back) or the age of the last
// check makes the next check read it whole, and damage is still found.
func testCheckedFilesNotReadAgain(t *testing.T, s *Store) {
	var reads []string
	s.testHookFullCheck = func(path string) { reads = append(reads, filepath.Base(path)) }
	mustPut(t, s, "acme", "v1", randomBytes(90, 300<<10))
	mustPut(t, s, "acme", "v2", randomBytes(91, 300<<10))
	mustDeploy(t, s, "v1")
	mustDeploy(t, s, "v2")
	mustBackup(t, s, "v2")
	check := func(wantReads int, wantClean bool) {
		t.Helper()
		rep, err := s.CheckDeployed(t.Context(), "acme", "v2", "sha256:manifest-v2")
		if err != nil || rep.Clean() != wantClean {
			t.Fatalf("CheckDeployed = %v, %v; want clean %v", rep, err, wantClean)
		}
		if len(reads) != wantReads {
			t.Fatalf("files read whole so far: %v; want %d", reads, wantReads)
		}
	}
	check(0, true) // stored by Put, linked by Deploy and Backup: never read back
	dir, _ := s.OrgDir("acme")
	model := filepath.Join(dir, DeployedLink, deployedModelName(s))
	if err := os.Chmod(model, 0o600); err != nil { // same mode: only the change time moves
		t.Fatal(err)
	}
	check(1, true)
	check(1, true) // checked again with the new stamp

	for _, e := range s.verified.m {
		e.at = e.at.Add(-ReverifyAfter - time.Second)
		s.verified.m[[2]uint64{e.stamp.dev, e.stamp.ino}] = e
	}
	check(2, true) // too old: read whole again

	fi, err := os.Stat(model)
	if err != nil {
		t.Fatal(err)
	}
	flipBit(t, model, 1000)
	if err := os.Chtimes(model, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(model); after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("the edit changed size or modification time: %v %v", after.Size(), after.ModTime())
	}
	check(3, false) // same size and mtime, damaged: found
}

// deployedModelName is the model file's name in a deploy dir of s.
func deployedModelName(s *Store) string {
	if s.Encrypted() {
		return EncryptedModelFile
	}
	return ModelFile
}
