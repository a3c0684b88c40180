package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// newStore opens a store in a fresh directory: encrypted with a new key per org in a
// fresh key directory, or plaintext (WithoutEncryptionUnsafe).
func newStore(t *testing.T, encrypted bool, orgs ...string) (s *Store, keyDir string) {
	t.Helper()
	opt := WithoutEncryptionUnsafe()
	if encrypted {
		keyDir = t.TempDir()
		for _, org := range orgs {
			if _, err := GenerateKey(keyDir, org); err != nil {
				t.Fatal(err)
			}
		}
		opt = WithKeyDir(keyDir)
	}
	s, err := Open(t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	return s, keyDir
}

// bothModes runs f on a plaintext and on an encrypted store (org acme has a key).
func bothModes(t *testing.T, f func(t *testing.T, s *Store)) {
	for _, encrypted := range []bool{false, true} {
		name := map[bool]string{false: "plaintext", true: "encrypted"}[encrypted]
		t.Run(name, func(t *testing.T) {
			s, _ := newStore(t, encrypted, "acme")
			f(t, s)
		})
	}
}

func mustPut(t *testing.T, s *Store, org, version string, data []byte) Record {
	t.Helper()
	rec, err := s.Put(context.Background(), Record{Org: org, Version: version, Digest: "sha256:manifest-" + version, ModelDigest: digestOf(data)}, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put %s/%s: %v", org, version, err)
	}
	return rec
}

func TestPutLookupRead(t *testing.T) { bothModes(t, testPutLookupRead) }

func testPutLookupRead(t *testing.T, s *Store) {
	data := []byte("model bytes v1")
	rec := mustPut(t, s, "acme", "v1", data)
	if rec.Size != int64(len(data)) || rec.ModelDigest != digestOf(data) || rec.StoredAt.IsZero() {
		t.Fatalf("record not completed: %+v", rec)
	}
	got, err := s.Lookup("acme", "v1")
	if err != nil || got.Digest != "sha256:manifest-v1" {
		t.Fatalf("Lookup = %+v, %v", got, err)
	}
	b, _, err := s.ReadModel("acme", "v1")
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("ReadModel = %q, %v", b, err)
	}
	if _, err := s.Lookup("acme", "v9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup missing = %v, want ErrNotFound", err)
	}
	name := map[bool]string{false: "model_v1.onnx", true: "model_v1.onnx.age"}[s.Encrypted()]
	fi, err := os.Stat(filepath.Join(s.Root(), "models", "acme", name))
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("model file missing or readable by others: %v %v", fi, err)
	}
}

// A failed or mismatching write never replaces a good stored version.
func TestPutFailureKeepsGoodVersion(t *testing.T) { bothModes(t, testPutFailureKeepsGoodVersion) }

func testPutFailureKeepsGoodVersion(t *testing.T, s *Store) {
	good := []byte("good model")
	mustPut(t, s, "acme", "v1", good)

	broken := io.MultiReader(strings.NewReader("partial"), errReader{errors.New("connection reset")})
	if _, err := s.Put(context.Background(), Record{Org: "acme", Version: "v1"}, broken); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	if _, err := s.Put(context.Background(), Record{Org: "acme", Version: "v1", ModelDigest: digestOf(good)}, strings.NewReader("evil")); err == nil || !strings.Contains(err.Error(), "expected "+digestOf(good)) {
		t.Fatalf("Put with wrong bytes: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, Record{Org: "acme", Version: "v1"}, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled ctx: %v", err)
	}
	b, _, err := s.ReadModel("acme", "v1")
	if err != nil || !bytes.Equal(b, good) {
		t.Fatalf("good version damaged: %q, %v", b, err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Root(), "models", "acme"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestTraversalRefused(t *testing.T) { bothModes(t, testTraversalRefused) }

func testTraversalRefused(t *testing.T, s *Store) {
	for _, org := range []string{"../etc", "a/b", "", ".."} {
		if _, err := s.Put(context.Background(), Record{Org: org, Version: "v1"}, strings.NewReader("x")); err == nil {
			t.Errorf("Put org %q accepted", org)
		}
	}
	for _, v := range []string{"../../x", "v1/x", ".hidden"} {
		if _, err := s.Put(context.Background(), Record{Org: "acme", Version: v}, strings.NewReader("x")); err == nil {
			t.Errorf("Put version %q accepted", v)
		}
	}
}

func TestTamperedFileRefused(t *testing.T) { bothModes(t, testTamperedFileRefused) }

// testTamperedFileRefused: bytes written over the stored file in place (so the deploy
// dir's hard link sees them too) are refused as ErrCorrupt by both read paths.
func testTamperedFileRefused(t *testing.T, s *Store) {
	mustPut(t, s, "acme", "v1", []byte("original"))
	if err := s.Deploy(context.Background(), "acme", "v1", "c0ffee"); err != nil {
		t.Fatal(err)
	}
	model, _, _ := s.versionPaths("acme", "v1")
	overwrite(t, model, []byte("tampered but longer"))
	if _, _, err := s.ReadModel("acme", "v1"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadModel of a tampered file: %v, want ErrCorrupt", err)
	}
	if _, _, _, err := s.Deployed("acme"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Deployed of a tampered file: %v, want ErrCorrupt", err)
	}
}

func TestDeployAndDeployed(t *testing.T) { bothModes(t, testDeployAndDeployed) }

func testDeployAndDeployed(t *testing.T, s *Store) {
	if _, _, _, err := s.Deployed("acme"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Deployed before any deploy: %v", err)
	}
	mustPut(t, s, "acme", "v1", []byte("one"))
	mustPut(t, s, "acme", "v2", []byte("two"))
	if err := s.Deploy(context.Background(), "acme", "v3", "c0ffee"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Deploy of a missing version: %v", err)
	}
	for _, v := range []string{"v1", "v2", "v1", "v2"} {
		if err := s.Deploy(context.Background(), "acme", v, "c0ffee"); err != nil {
			t.Fatal(err)
		}
		_, rec, dep, err := s.Deployed("acme")
		if err != nil || rec.Version != v || dep.Version != v || dep.ConfigCommit != "c0ffee" || dep.Digest != rec.Digest {
			t.Fatalf("Deployed = %+v, %+v, %v; want %s", rec, dep, err, v)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(s.Root(), "models", "acme"))
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".deploy-") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d deploy dirs kept, want 2 (current and previous)", n)
	}
	orgs, err := s.Orgs()
	if err != nil || len(orgs) != 1 || orgs[0] != "acme" {
		t.Fatalf("Orgs = %v, %v", orgs, err)
	}
}

// TestDeployAtomic: a reader that opens deployed/ in a tight loop during 200 swaps never
// sees a missing or partial model, and the model it reads always matches its metadata.
func TestDeployAtomic(t *testing.T) {
	bothModes(t, func(t *testing.T, s *Store) { testDeployAtomic(t, s, 200, false) })
	t.Run("encrypted-alternating-plaintext-deploy", func(t *testing.T) {
		s, _ := newStore(t, true, "acme")
		testDeployAtomic(t, s, 100, true)
	})
}

// testDeployAtomic swaps n times; with alternate, two deploys in four are PlaintextDeploy.
func testDeployAtomic(t *testing.T, s *Store, n int, alternate bool) {
	models := map[string][]byte{
		"v1": bytes.Repeat([]byte("1"), 256<<10),
		"v2": bytes.Repeat([]byte("2"), 300<<10),
	}
	for v, b := range models {
		mustPut(t, s, "acme", v, b)
	}
	if err := s.Deploy(context.Background(), "acme", "v1", "c0ffee"); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b, rec, _, err := s.Deployed("acme")
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(b, models[rec.Version]) {
					errs <- errors.New("deployed model does not match its metadata: " + rec.Version)
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := range n {
		v := []string{"v2", "v1"}[i%2]
		if err := s.Deploy(context.Background(), "acme", v, "c0ffee", PlaintextDeploy(alternate && i%4 < 2)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatal("reader never ran")
	}
	t.Logf("%d reads during %d swaps", reads.Load(), n)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
