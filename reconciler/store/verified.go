package store

import (
	"context"
	"os"
	"sync"
	"time"
)

// ReverifyAfter is how long a model file whose bytes were checked against its record
// (decrypted and hashed) counts as checked while nothing about it changes. Until then,
// the drift check and Backup re-check such a file by its stamp alone (see fileStamp);
// after that they read it whole again, which also catches damage the file system does
// not show (a bit flipped on the disk). Loading a model (ReadModel, Deployed) always
// reads and hashes it whole.
const ReverifyAfter = time.Hour

// fileStamp is what the file system says about a file without reading it: device,
// inode, size, and modification and change times in nanoseconds. Any write, truncate,
// chmod, rename or link of the file moves its change time, which no user can set back
// (git's index relies on the same test to skip unchanged files), so a file edited in
// place whose modification time was restored still shows a new stamp.
type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// verifiedFile is a file checked against a record: the file's stamp then, what it was
// checked against, and when.
type verifiedFile struct {
	stamp     fileStamp
	digest    string // the record's ModelDigest
	size      int64  // the record's plaintext Size
	plaintext bool   // checked as plaintext (else decrypted)
	at        time.Time
}

// verifiedFiles remembers model files checked against their records, by device and
// inode (a hard link shares its file's entry). It is bounded: past maxVerified entries
// it forgets them all, which only costs a full check of each file again.
type verifiedFiles struct {
	mu sync.Mutex
	m  map[[2]uint64]verifiedFile
}

const maxVerified = 4096

// lookup reports whether path is a file checked against rec (as plaintext or not)
// less than ReverifyAfter ago and unchanged since, and when it was checked.
func (v *verifiedFiles) lookup(path string, rec Record, plaintext bool) (time.Time, bool) {
	st, ok := statStamp(path)
	if !ok {
		return time.Time{}, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[[2]uint64{st.dev, st.ino}]
	ok = ok && e.stamp == st && e.digest == rec.ModelDigest && e.size == rec.Size &&
		e.plaintext == plaintext && time.Since(e.at) < ReverifyAfter
	return e.at, ok
}

// remember records that path, as it is now, was checked against rec at time at.
func (v *verifiedFiles) remember(path string, rec Record, plaintext bool, at time.Time) {
	if st, ok := statStamp(path); ok {
		v.put(st, rec, plaintext, at)
	}
}

// put records that the file whose stamp was st was checked against rec at time at.
func (v *verifiedFiles) put(st fileStamp, rec Record, plaintext bool, at time.Time) {
	if rec.ModelDigest == "" {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerified {
		v.m = map[[2]uint64]verifiedFile{}
	}
	v.m[[2]uint64{st.dev, st.ino}] = verifiedFile{stamp: st, digest: rec.ModelDigest, size: rec.Size, plaintext: plaintext, at: at}
}

// restamp is for Talon's own hard links and renames of a checked file, which move its
// change time: it calls op and, when path was checked and unchanged just before, keeps
// it checked (with the time of the check it had) under its new stamp.
func (v *verifiedFiles) restamp(path string, rec Record, plaintext bool, op func() error) error {
	at, was := v.lookup(path, rec, plaintext)
	if err := op(); err != nil {
		return err
	}
	if was {
		v.remember(path, rec, plaintext, at)
	}
	return nil
}

// checkFile is verifyFile for the drift check and backups: a file checked and unchanged
// within ReverifyAfter is taken as it is; otherwise it is read whole, and remembered
// when it matches rec and did not change while it was read.
func (s *Store) checkFile(ctx context.Context, org, path string, rec Record, plaintext bool) error {
	if !plaintext {
		if _, err := s.loadKeys(org); err != nil {
			return err // the key must still be there, as for a full check
		}
	}
	if _, ok := s.verified.lookup(path, rec, plaintext); ok {
		return nil
	}
	if s.testHookFullCheck != nil {
		s.testHookFullCheck(path)
	}
	start := time.Now()
	before, ok := statStamp(path)
	if err := s.verifyFile(ctx, org, path, rec, plaintext); err != nil {
		return err
	}
	if after, _ := statStamp(path); ok && after == before {
		s.verified.put(before, rec, plaintext, start)
	}
	return nil
}

// statStamp returns path's stamp, following no symlink; false when it cannot be had.
func statStamp(path string) (fileStamp, bool) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return fileStamp{}, false
	}
	return stampOf(fi)
}
