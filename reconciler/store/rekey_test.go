package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
)

// rekeyWorld is an encrypted store where acme has three versions, two deploy dirs (hard
// links) and an encrypted backup, and beta one version.
type rekeyWorld struct {
	s        *Store
	keyDir   string
	versions map[string][]byte
	backup   string
	oldKey   []age.Identity
	betaFile []byte
}

func newRekeyWorld(t *testing.T) *rekeyWorld {
	t.Helper()
	s, keyDir := newStore(t, true, "acme", "beta")
	w := &rekeyWorld{s: s, keyDir: keyDir, versions: map[string][]byte{}}
	ctx := context.Background()
	for i, v := range []string{"v1", "v2", "v3"} {
		w.versions[v] = randomBytes(uint64(40+i), 150<<10+i)
		mustPut(t, s, "acme", v, w.versions[v])
	}
	for _, v := range []string{"v1", "v2"} {
		if err := s.Deploy(ctx, "acme", v, "c0ffee"); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.loadKeys("acme")
	if err != nil {
		t.Fatal(err)
	}
	w.oldKey = keys.ids
	bdir, _ := s.BackupDir("acme")
	os.MkdirAll(filepath.Join(bdir, "2026"), 0o700)
	w.backup = filepath.Join(bdir, "2026", "model_v0.onnx.age")
	_, err = writeDurable(ctx, w.backup, func(f io.Writer) (int64, error) {
		return streamEncrypted(f, bytes.NewReader(w.versions["v3"]), keys.recipient, sha256.New())
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "beta", "v1", w.versions["v1"])
	bm, _, _ := s.versionPaths("beta", "v1")
	w.betaFile, _ = os.ReadFile(bm)
	return w
}

// checkReadable opens the store afresh (as a restarted process would) and reads every
// version, the deployed model and the backup with the key file as it is on disk.
func (w *rekeyWorld) checkReadable(t *testing.T) {
	t.Helper()
	s, err := Open(w.s.Root(), WithKeyDir(w.keyDir))
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range w.versions {
		if got, _, err := s.ReadModel("acme", v); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadModel %s: %v", v, err)
		}
	}
	if got, rec, _, err := s.Deployed("acme"); err != nil || rec.Version != "v2" || !bytes.Equal(got, w.versions["v2"]) {
		t.Fatalf("Deployed: %s, %v", rec.Version, err)
	}
	keys, err := s.loadKeys("acme")
	if err != nil {
		t.Fatal(err)
	}
	if got := decryptAll(t, w.backup, keys.ids); !bytes.Equal(got, w.versions["v3"]) {
		t.Fatal("backup does not decrypt to its plaintext")
	}
	bm, _, _ := s.versionPaths("beta", "v1")
	if b, _ := os.ReadFile(bm); !bytes.Equal(b, w.betaFile) {
		t.Fatal("rekey of acme changed beta's file")
	}
}

func decryptAll(t *testing.T, path string, ids []age.Identity) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := age.Decrypt(bufio.NewReader(f), ids...)
	if err != nil {
		return nil
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		return nil
	}
	return b.Bytes()
}

// ageFiles lists acme's *.age files (versions, deploy dirs, backups).
func (w *rekeyWorld) ageFiles(t *testing.T) []string {
	var out []string
	for _, root := range []string{filepath.Join(w.s.Root(), "models", "acme"), filepath.Join(w.s.Root(), "backups", "acme")} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".age") && d.Type().IsRegular() {
				out = append(out, p)
			}
			return err
		})
	}
	if len(out) != 6 { // 3 versions, 2 deploy dirs, 1 backup
		t.Fatalf("%d .age files, want 6: %v", len(out), out)
	}
	return out
}

// checkRotated: the key file holds one identity, new; no file opens with the old key;
// no temporary file is left in the data or key directory.
func (w *rekeyWorld) checkRotated(t *testing.T) {
	t.Helper()
	keys, err := w.s.loadKeys("acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.ids) != 1 || fmt.Sprint(keys.ids[0]) == fmt.Sprint(w.oldKey[0]) {
		t.Fatalf("key file holds %d identities after rekey (want 1, new)", len(keys.ids))
	}
	for _, p := range w.ageFiles(t) {
		if decryptAll(t, p, w.oldKey) != nil {
			t.Errorf("old key still opens %s", p)
		}
	}
	if n := countTemps(t, w.s.Root()) + countTemps(t, w.keyDir); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
	w.checkReadable(t)
}

func TestRekey(t *testing.T) {
	w := newRekeyWorld(t)
	res, err := w.s.Rekey(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 4 || res.Resumed || len(res.Skipped) != 0 || !strings.HasPrefix(res.Recipient, "age1") {
		t.Fatalf("Rekey = %+v; want 4 files (3 versions, 1 backup) re-encrypted", res)
	}
	w.checkRotated(t)
	// The deploy dir still shares the version file (hard link re-made, not a copy).
	dir := filepath.Join(w.s.Root(), "models", "acme")
	target, _ := os.Readlink(filepath.Join(dir, DeployedLink))
	a, _ := os.Stat(filepath.Join(dir, "model_v2.onnx.age"))
	b, _ := os.Stat(filepath.Join(dir, target, EncryptedModelFile))
	if !os.SameFile(a, b) {
		t.Error("deploy dir's model is no longer a hard link of the version file")
	}
	if _, err := w.s.Rekey(context.Background(), "beta"); err != nil {
		t.Fatal(err)
	}
	w.betaFile, _ = os.ReadFile(filepath.Join(w.s.Root(), "models", "beta", "model_v1.onnx.age"))
	w.checkReadable(t)
}

var errCrash = errors.New("simulated crash")

// TestRekeyCrashAtEveryStep stops a rotation after each of its durable steps in turn,
// as a crash would (no cleanup runs), plus leaves the temporary files a crash inside a
// write would. Every version stays readable with the key file on disk, and the next
// Rekey finishes the same rotation and cleans up.
func TestRekeyCrashAtEveryStep(t *testing.T) {
	var steps []string
	w := newRekeyWorld(t)
	if _, err := w.s.rekey(context.Background(), "acme", func(step string) error {
		steps = append(steps, step)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// key-added; per file: writing, replaced; per extra hard link: relinked; before-drop.
	if want := 1 + 4*2 + 2 + 1; len(steps) != want {
		t.Fatalf("%d steps, want %d: %v", len(steps), want, steps)
	}
	for k, step := range steps {
		t.Run(fmt.Sprintf("%02d-%s", k, stepName(step)), func(t *testing.T) {
			w := newRekeyWorld(t)
			n := 0
			_, err := w.s.rekey(context.Background(), "acme", func(string) error {
				if n == k {
					return errCrash
				}
				n++
				return nil
			})
			if !errors.Is(err, errCrash) {
				t.Fatalf("rekey: %v, want the simulated crash", err)
			}
			w.checkReadable(t)
			// What a crash during a write leaves behind.
			os.WriteFile(filepath.Join(w.s.Root(), "models", "acme", ".tmp-model_v1.onnx.age-123"), []byte("junk"), 0o600)
			os.WriteFile(filepath.Join(w.keyDir, ".tmp-acme.agekey-123"), []byte("junk"), 0o600)
			w.checkReadable(t)
			res, err := w.s.Rekey(context.Background(), "acme")
			if err != nil || !res.Resumed || len(res.Skipped) != 0 {
				t.Fatalf("resumed Rekey = %+v, %v", res, err)
			}
			w.checkRotated(t)
		})
	}
}

// stepName shortens "replaced:/tmp/…/models/acme/.deploy-<n>/model.onnx.age" to
// "replaced-deploy-model.onnx.age".
func stepName(s string) string {
	kind, path, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	dir := filepath.Base(filepath.Dir(path))
	if strings.HasPrefix(dir, ".deploy-") {
		dir = "deploy"
	}
	return kind + "-" + dir + "-" + filepath.Base(path)
}

// TestRekeyWhileServing: readers never fail while the key is rotated again and again, and
// puts that race with the rotations wait for them and stay readable.
func TestRekeyWhileServing(t *testing.T) {
	w := newRekeyWorld(t)
	ctx := context.Background()
	var stop atomic.Bool
	var reads, puts atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, _, err := w.s.ReadModel("acme", "v1"); err != nil {
					errs <- err
					return
				}
				if _, _, _, err := w.s.Deployed("acme"); err != nil {
					errs <- err
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			data := randomBytes(uint64(100+i), 20<<10)
			v := fmt.Sprintf("p%d", i)
			if _, err := w.s.Put(ctx, Record{Org: "acme", Version: v, ModelDigest: digestOf(data)}, bytes.NewReader(data)); err != nil {
				errs <- err
				return
			}
			w.versions[v] = data
			puts.Add(1)
		}
	}()
	const rotations = 4
	for range rotations {
		before := puts.Load()
		if _, err := w.s.Rekey(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		// Let the writer through before rotating again (flock is not fair).
		for deadline := time.Now().Add(10 * time.Second); puts.Load() == before && len(errs) == 0; {
			if time.Now().After(deadline) {
				t.Fatal("no put completed within 10s after a rotation")
			}
			time.Sleep(time.Millisecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatal("readers never ran")
	}
	t.Logf("%d reads and %d puts during %d rotations", reads.Load(), puts.Load(), rotations)
	w.checkReadable(t)
}

// TestReadAcrossARotation: a whole rotation between a reader's loading of the key file
// and its reading of the model file (it now holds a key that was dropped) is not taken
// for corruption: the reader loads the key file again.
func TestReadAcrossARotation(t *testing.T) {
	w := newRekeyWorld(t)
	reader, err := Open(w.s.Root(), WithKeyDir(w.keyDir))
	if err != nil {
		t.Fatal(err)
	}
	rotations := 0
	reader.testHookKeysLoaded = func() {
		if rotations == 0 {
			rotations++
			if _, err := w.s.Rekey(context.Background(), "acme"); err != nil {
				t.Error(err)
			}
		}
	}
	if got, _, err := reader.ReadModel("acme", "v1"); err != nil || !bytes.Equal(got, w.versions["v1"]) || rotations != 1 {
		t.Fatalf("ReadModel across a rotation: %v (rotations %d)", err, rotations)
	}
}

// TestRekeyBlocksWriters: a Put from another writer waits while a rotation holds the
// org, so it cannot encrypt to a key about to be dropped.
func TestRekeyBlocksWriters(t *testing.T) {
	w := newRekeyWorld(t)
	var putErr error
	_, err := w.s.rekey(context.Background(), "acme", func(step string) error {
		if step == "key-added" {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, putErr = w.s.Put(ctx, Record{Org: "acme", Version: "v9"}, strings.NewReader("x"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(putErr, context.DeadlineExceeded) {
		t.Fatalf("Put during a rotation: %v; want it to wait for the lock", putErr)
	}
	w.checkRotated(t)
}

func TestRekeyRefusals(t *testing.T) {
	plain, _ := newStore(t, false)
	if _, err := plain.Rekey(context.Background(), "acme"); err == nil || !strings.Contains(err.Error(), "not encrypted") {
		t.Errorf("Rekey of an unencrypted store: %v", err)
	}
	s, _ := newStore(t, true, "acme")
	if _, err := s.Rekey(context.Background(), "beta"); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("Rekey without a key: %v, want ErrKeyUnavailable", err)
	}
	// A corrupt version is reported and left as it was; the others rotate.
	mustPut(t, s, "acme", "v1", []byte("one"))
	mustPut(t, s, "acme", "v2", []byte("two"))
	m1, _, _ := s.versionPaths("acme", "v1")
	flipBit(t, m1, 100)
	res, err := s.Rekey(context.Background(), "acme")
	if err != nil || res.Files != 1 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "model_v1.onnx.age") {
		t.Fatalf("Rekey with a corrupt file = %+v, %v; want 1 re-encrypted, v1 skipped", res, err)
	}
	if got, _, err := s.ReadModel("acme", "v2"); err != nil || string(got) != "two" {
		t.Fatalf("v2 after rekey: %v", err)
	}
}
