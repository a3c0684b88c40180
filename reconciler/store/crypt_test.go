package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
)

// randomBytes returns n reproducible pseudo-random bytes: every 32-byte block is unique,
// so finding one on disk means the plaintext leaked.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// plaintextHits returns the files under root (relative, symlinks not followed) holding
// any 64-byte window of plain. Any such window contains a 32-byte block of plain starting
// at a multiple of 32, so the scan looks for those blocks at every offset of every file.
func plaintextHits(t *testing.T, root string, plain []byte) []string {
	t.Helper()
	blocks := map[uint64][]int{}
	for i := 0; i+32 <= len(plain); i += 32 {
		k := binary.LittleEndian.Uint64(plain[i:])
		blocks[k] = append(blocks[k], i)
	}
	var hits []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for j := 0; j+32 <= len(b); j++ {
			for _, i := range blocks[binary.LittleEndian.Uint64(b[j:])] {
				if bytes.Equal(b[j:j+32], plain[i:i+32]) {
					rel, _ := filepath.Rel(root, p)
					hits = append(hits, rel)
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(hits)
	return hits
}

func TestEncryptedRoundTrip(t *testing.T) {
	s, _ := newStore(t, true, "acme")
	ctx := context.Background()
	for _, n := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1<<20 + 17} {
		data := randomBytes(uint64(n), n)
		v := "v" + strconv.Itoa(n)
		mustPut(t, s, "acme", v, data)
		model, _, _ := s.versionPaths("acme", v)
		raw, err := os.ReadFile(model)
		if err != nil || !bytes.HasPrefix(raw, []byte("age-encryption.org/v1\n")) || len(raw) <= n {
			t.Fatalf("%s: stored file is not an age file longer than the plaintext (%d bytes, %v)", v, len(raw), err)
		}
		got, rec, err := s.ReadModel("acme", v)
		if err != nil || !bytes.Equal(got, data) || rec.Size != int64(n) {
			t.Fatalf("ReadModel %s: %d bytes, size %d, %v", v, len(got), rec.Size, err)
		}
		for _, plain := range []bool{false, true} {
			if err := s.Deploy(ctx, "acme", v, "c0ffee", PlaintextDeploy(plain)); err != nil {
				t.Fatal(err)
			}
			got, rec, dep, err := s.Deployed("acme")
			if err != nil || !bytes.Equal(got, data) || rec.Version != v || dep.Plaintext != plain {
				t.Fatalf("Deployed %s (plaintext %v): %d bytes, %+v, %+v, %v", v, plain, len(got), rec, dep, err)
			}
		}
	}
}

// TestNoPlaintextAtRest: after puts, deploys and a quarantine in an encrypted store, no
// 64-byte window of any model's plaintext, nor the key, is in any file under the data
// directory; and while Put streams, the temporary file holds no plaintext either.
func TestNoPlaintextAtRest(t *testing.T) {
	s, keyDir := newStore(t, true, "acme", "beta")
	ctx := context.Background()
	v1, v2, b1 := randomBytes(1, 1<<20), randomBytes(2, 700<<10+3), randomBytes(3, 300<<10)

	var midStream []string
	probe := &probeReader{r: bytes.NewReader(v1), at: len(v1) / 2, probe: func() {
		midStream = plaintextHits(t, s.Root(), v1)
		if n := countTemps(t, s.Root()); n != 1 {
			t.Errorf("%d temporary files while Put streams, want 1", n)
		}
	}}
	if _, err := s.Put(ctx, Record{Org: "acme", Version: "v1", ModelDigest: digestOf(v1)}, probe); err != nil {
		t.Fatal(err)
	}
	if !probe.fired || len(midStream) != 0 {
		t.Fatalf("mid-stream probe fired=%v, plaintext found in %v", probe.fired, midStream)
	}
	mustPut(t, s, "acme", "v2", v2)
	mustPut(t, s, "acme", "v3", v2)
	mustPut(t, s, "beta", "v1", b1)
	for _, d := range []struct{ org, v string }{{"acme", "v1"}, {"acme", "v2"}, {"beta", "v1"}} {
		if err := s.Deploy(ctx, d.org, d.v, "c0ffee"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Quarantine(ctx, "acme", "v3"); err != nil {
		t.Fatal(err)
	}
	for name, plain := range map[string][]byte{"acme v1": v1, "acme v2": v2, "beta v1": b1} {
		if hits := plaintextHits(t, s.Root(), plain); len(hits) != 0 {
			t.Errorf("plaintext of %s found in %v", name, hits)
		}
	}
	for _, org := range []string{"acme", "beta"} {
		key, err := os.ReadFile(filepath.Join(keyDir, org+KeyExt))
		if err != nil {
			t.Fatal(err)
		}
		secret := key[bytes.Index(key, []byte("AGE-SECRET-KEY-")):]
		secret = secret[:bytes.IndexByte(secret, '\n')]
		if hits := plaintextHits(t, s.Root(), append(secret, secret...)); len(hits) != 0 {
			t.Errorf("key of %s found in %v", org, hits)
		}
	}
}

// probeReader calls probe once, after at bytes were read.
type probeReader struct {
	r     io.Reader
	at, n int
	probe func()
	fired bool
}

func (p *probeReader) Read(b []byte) (int, error) {
	if !p.fired && p.n >= p.at {
		p.fired = true
		p.probe()
	}
	if len(b) > 4096 {
		b = b[:4096]
	}
	n, err := p.r.Read(b)
	p.n += n
	return n, err
}

func countTemps(t *testing.T, root string) int {
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			n++
		}
		return err
	})
	return n
}

// TestPlaintextDeploy: the opt-in writes the decrypted model into the deploy dir and
// nowhere else, checks it when read, and leaves no plaintext once the org deploys
// encrypted again (after the previous deploy dir is pruned).
func TestPlaintextDeploy(t *testing.T) {
	s, _ := newStore(t, true, "acme")
	ctx := context.Background()
	data := randomBytes(7, 512<<10)
	mustPut(t, s, "acme", "v1", data)
	if err := s.Deploy(ctx, "acme", "v1", "c0ffee", PlaintextDeploy(true)); err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(filepath.Join(s.Root(), "models", "acme", DeployedLink))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join("models", "acme", target, ModelFile)}
	if diff := cmp.Diff(want, plaintextHits(t, s.Root(), data)); diff != "" {
		t.Fatalf("files holding plaintext (-want +got):\n%s", diff)
	}
	plainPath := filepath.Join(s.Root(), want[0])
	if fi, err := os.Stat(plainPath); err != nil || fi.Mode().Perm() != 0o400 {
		t.Fatalf("plaintext model: %v, %v; want mode 0400", fi, err)
	}
	got, _, dep, err := s.Deployed("acme")
	if err != nil || !bytes.Equal(got, data) || !dep.Plaintext {
		t.Fatalf("Deployed: %d bytes, %+v, %v", len(got), dep, err)
	}
	flipBit(t, plainPath, len(data)/2)
	if _, _, _, err := s.Deployed("acme"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Deployed of a flipped plaintext deploy: %v, want ErrCorrupt", err)
	}
	for range 2 {
		if err := s.Deploy(ctx, "acme", "v1", "c0ffee"); err != nil {
			t.Fatal(err)
		}
	}
	if hits := plaintextHits(t, s.Root(), data); len(hits) != 0 {
		t.Fatalf("plaintext left in %v after two encrypted deploys", hits)
	}
}

func flipBit(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x10
	overwrite(t, path, b)
}

// overwrite writes data over path in place, as an operator forcing an edit would: the
// store's files are read-only, so it makes the file writable first.
func overwrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.Chmod(path, 0o600); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOrgIsolation: org A's key opens none of org B's files, and B's file put in A's
// place (with or without B's record) is refused as ErrCorrupt, naming A's key file.
func TestOrgIsolation(t *testing.T) {
	s, keyDir := newStore(t, true, "acme", "beta")
	a, b := randomBytes(10, 100<<10), randomBytes(11, 100<<10)
	mustPut(t, s, "acme", "v1", a)
	mustPut(t, s, "beta", "v1", b)
	for _, c := range []struct{ keyOf, fileOf string }{{"acme", "beta"}, {"beta", "acme"}} {
		keys, err := s.loadKeys(c.keyOf)
		if err != nil {
			t.Fatal(err)
		}
		model, _, _ := s.versionPaths(c.fileOf, "v1")
		f, err := os.Open(model)
		if err != nil {
			t.Fatal(err)
		}
		_, err = age.Decrypt(f, keys.ids...)
		f.Close()
		var nomatch *age.NoIdentityMatchError
		if !errors.As(err, &nomatch) {
			t.Errorf("%s's key on %s's file: %v, want NoIdentityMatchError", c.keyOf, c.fileOf, err)
		}
	}
	aModel, aMeta, _ := s.versionPaths("acme", "v1")
	bModel, bMeta, _ := s.versionPaths("beta", "v1")
	for _, withRecord := range []bool{false, true} {
		copyFile(t, bModel, aModel)
		if withRecord {
			copyFile(t, bMeta, aMeta)
		}
		_, _, err := s.ReadModel("acme", "v1")
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(keyDir, "acme.agekey")) {
			t.Errorf("ReadModel of beta's file in acme's place (record too: %v): %v; want ErrCorrupt naming acme's key", withRecord, err)
		}
	}
	if got, _, err := s.ReadModel("beta", "v1"); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("beta damaged: %v", err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	overwrite(t, dst, b)
}

// TestCorruptionDetected: every kind of damage to a stored encrypted file, written in
// place so the deploy dir's hard link sees it too, is ErrCorrupt on both read paths, and
// the version can be quarantined and pulled again.
func TestCorruptionDetected(t *testing.T) {
	v1, v2 := randomBytes(20, 200<<10), randomBytes(21, 200<<10)
	cases := []struct {
		name   string
		damage func(b, other []byte) []byte
	}{
		{"bit in header", func(b, _ []byte) []byte { b[40] ^= 1; return b }},
		{"bit in first chunk", func(b, _ []byte) []byte { b[1000] ^= 1; return b }},
		{"bit in middle", func(b, _ []byte) []byte { b[len(b)/2] ^= 0x80; return b }},
		{"bit in last tag", func(b, _ []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"truncated by one", func(b, _ []byte) []byte { return b[:len(b)-1] }},
		{"truncated at a chunk", func(b, _ []byte) []byte { return b[:len(b)-(200<<10-3*(64<<10))-16] }},
		{"byte appended", func(b, _ []byte) []byte { return append(b, 0) }},
		{"another version's file", func(_, other []byte) []byte { return other }},
		{"empty", func([]byte, []byte) []byte { return nil }},
		{"plaintext instead", func([]byte, []byte) []byte { return bytes.Clone(v1) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newStore(t, true, "acme")
			ctx := context.Background()
			mustPut(t, s, "acme", "v1", v1)
			mustPut(t, s, "acme", "v2", v2)
			if err := s.Deploy(ctx, "acme", "v1", "c0ffee"); err != nil {
				t.Fatal(err)
			}
			m1, _, _ := s.versionPaths("acme", "v1")
			m2, _, _ := s.versionPaths("acme", "v2")
			b1, _ := os.ReadFile(m1)
			b2, _ := os.ReadFile(m2)
			overwrite(t, m1, c.damage(b1, b2))
			if _, _, err := s.ReadModel("acme", "v1"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("ReadModel: %v, want ErrCorrupt", err)
			}
			if _, _, _, err := s.Deployed("acme"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Deployed: %v, want ErrCorrupt", err)
			}
			if err := s.Deploy(ctx, "acme", "v1", "c0ffee", PlaintextDeploy(true)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("plaintext Deploy: %v, want ErrCorrupt", err)
			}
			q, err := s.Quarantine(ctx, "acme", "v1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(q, filepath.Base(m1))); err != nil {
				t.Errorf("quarantined file: %v", err)
			}
			if _, err := s.Lookup("acme", "v1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Lookup after quarantine: %v, want ErrNotFound", err)
			}
			mustPut(t, s, "acme", "v1", v1)
			if got, _, err := s.ReadModel("acme", "v1"); err != nil || !bytes.Equal(got, v1) {
				t.Errorf("ReadModel after pulling again: %v", err)
			}
		})
	}
}
