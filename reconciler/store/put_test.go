package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// TestPutFromVerifyingReader streams a model layer from a real registry into Put, which
// relies on the registry reader's digest check (store.VerifyingReader) instead of hashing
// again: a good layer is stored, copied out whole and announced by OnVerified before it
// is visible; substituted or truncated bytes fail at the reader's end, before OnVerified,
// and leave nothing behind; a record expecting other bytes than the reader verifies is
// checked by Put itself.
func TestPutFromVerifyingReader(t *testing.T) {
	model := pseudoRandom(3<<20 + 4097) // several buffers, an unaligned tail
	evil := bytes.Clone(model)
	evil[len(evil)/2] ^= 1
	sum := sha256.Sum256(model)
	layer := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}
	otherSum := sha256.Sum256(evil)
	tests := []struct {
		name      string
		mw        []registrytest.Middleware
		recDigest string
		wantErr   error  // errors.Is
		wantMsg   string // or a message part, for Put's own check
	}{
		{name: "verified", recDigest: layer.String()},
		{name: "verified, no digest in the record"},
		{name: "substituted bytes", mw: []registrytest.Middleware{registrytest.ReplaceBlob(layer, evil)}, recDigest: layer.String(), wantErr: registry.ErrDigestMismatch},
		{name: "truncated", mw: []registrytest.Middleware{registrytest.ReplaceBlobChunked(layer, model[:len(model)-1])}, recDigest: layer.String(), wantErr: registry.ErrSizeMismatch},
		{name: "record expects other bytes", recDigest: fmt.Sprintf("sha256:%x", otherSum), wantMsg: "bytes hash to " + layer.String()},
	}
	for _, encrypted := range []bool{true, false} {
		for _, tc := range tests {
			for _, into := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/encrypted=%v/into=%v", tc.name, encrypted, into), func(t *testing.T) {
					testPutFromVerifyingReader(t, encrypted, into, model, tc.mw, tc.recDigest, tc.wantErr, tc.wantMsg, layer)
				})
			}
		}
	}
}

// testPutFromVerifyingReader is one case of TestPutFromVerifyingReader; into: the
// plaintext is kept with ReadInto (else it is only stored).
func testPutFromVerifyingReader(t *testing.T, encrypted, into bool, model []byte, mw []registrytest.Middleware, recDigest string, wantErr error, wantMsg string, layer v1.Hash) {
	st := openStore(t, encrypted)
	rc := openModel(t, model, mw...)
	defer rc.Close()
	var opts []store.PutOption
	var kept []byte // with ReadInto: the plaintext Put keeps
	if into {
		kept = make([]byte, len(model))
		opts = append(opts, store.ReadInto(kept))
	}
	calls, keptAtCall := 0, false
	var lookupAtCall error
	rec, err := st.Put(context.Background(), store.Record{Org: "acme", Version: "v1", ModelDigest: recDigest}, rc,
		append(opts, store.OnVerified(func() {
			calls++
			keptAtCall = bytes.Equal(kept, model)
			_, lookupAtCall = st.Lookup("acme", "v1")
		}))...)
	if wantErr != nil || wantMsg != "" {
		if err == nil || (wantErr != nil && !errors.Is(err, wantErr)) || !strings.Contains(err.Error(), wantMsg) {
			t.Fatalf("Put = %v, want %v %q", err, wantErr, wantMsg)
		}
		if calls != 0 {
			t.Errorf("OnVerified called %d times for bytes that failed their check", calls)
		}
		if _, err := st.Lookup("acme", "v1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after a failed Put, Lookup = %v, want ErrNotFound", err)
		}
		if tmps := tempFiles(t, st.Root()); len(tmps) > 0 {
			t.Errorf("temporary files left behind: %v", tmps)
		}
		return
	}
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if calls != 1 || into != keptAtCall || !errors.Is(lookupAtCall, store.ErrNotFound) {
		t.Errorf("OnVerified: %d calls, kept plaintext whole then %v (ReadInto %v), Lookup then %v; want 1 call, before the version is visible",
			calls, keptAtCall, into, lookupAtCall)
	}
	if rec.ModelDigest != layer.String() || rec.Size != int64(len(model)) {
		t.Errorf("record = %s, %d bytes; want %s, %d", rec.ModelDigest, rec.Size, layer, len(model))
	}
	got, _, err := st.ReadModel("acme", "v1")
	if err != nil || !bytes.Equal(got, model) {
		t.Fatalf("ReadModel: %v (equal %v)", err, bytes.Equal(got, model))
	}
}

// TestPutReadIntoWrongLength: ReadInto's buffer must be exactly as long as the stream; a
// stream longer or shorter fails the Put and stores nothing.
func TestPutReadIntoWrongLength(t *testing.T) {
	model := pseudoRandom(2<<20 + 5)
	for _, n := range []int{len(model) - 1, len(model) + 1, 0} {
		st := openStore(t, true)
		rc := openModel(t, model)
		_, err := st.Put(context.Background(), store.Record{Org: "acme", Version: "v1"}, rc, store.ReadInto(make([]byte, n)))
		rc.Close()
		if err == nil {
			t.Fatalf("buffer of %d bytes for %d: Put succeeded", n, len(model))
		}
		if _, err := st.Lookup("acme", "v1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("buffer of %d bytes: Lookup = %v, want ErrNotFound", n, err)
		}
	}
}

// TestPutChecksPlainReaders: a reader that does not verify itself is hashed by Put, and
// OnVerified is called only when the bytes match (never for a record without a digest).
func TestPutChecksPlainReaders(t *testing.T) {
	model := pseudoRandom(2<<20 + 1)
	sum := sha256.Sum256(model)
	good := fmt.Sprintf("sha256:%x", sum)
	tests := []struct {
		name, recDigest string
		wantErr         bool
		wantCalls       int
	}{
		{"matching digest", good, false, 1},
		{"other digest", "sha256:" + strings.Repeat("0", 64), true, 0},
		{"no digest", "", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, true)
			calls := 0
			rec, err := st.Put(context.Background(), store.Record{Org: "acme", Version: "v1", ModelDigest: tc.recDigest}, bytes.NewReader(model),
				store.OnVerified(func() { calls++ }))
			if (err != nil) != tc.wantErr || calls != tc.wantCalls {
				t.Fatalf("Put = %v with %d OnVerified calls; want error %v, %d calls", err, calls, tc.wantErr, tc.wantCalls)
			}
			if err == nil && rec.ModelDigest != good {
				t.Errorf("record digest %s, want %s", rec.ModelDigest, good)
			}
		})
	}
}

func openStore(t *testing.T, encrypted bool) *store.Store {
	t.Helper()
	opt := store.WithoutEncryptionUnsafe()
	if encrypted {
		keys := t.TempDir()
		if _, err := store.GenerateKey(keys, "acme"); err != nil {
			t.Fatal(err)
		}
		opt = store.WithKeyDir(keys)
	}
	st, err := store.Open(t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// openModel pushes model as an artifact to a fresh in-process registry (with mw) and
// opens its model layer by digest.
func openModel(t *testing.T, model []byte, mw ...registrytest.Middleware) io.ReadCloser {
	t.Helper()
	ctx := context.Background()
	host := registrytest.Start(t, mw...)
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, model, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := client.Push(ctx, host+"/acme/pdm:v1", registry.PushInput{ModelPath: path})
	if err != nil {
		t.Fatal(err)
	}
	art, err := client.Fetch(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := art.OpenModel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// pseudoRandom returns n bytes that do not compress or repeat.
func pseudoRandom(n int) []byte {
	b := make([]byte, 0, n+sha256.Size)
	seed := sha256.Sum256([]byte("talon"))
	for len(b) < n {
		seed = sha256.Sum256(seed[:])
		b = append(b, seed[:]...)
	}
	return b[:n]
}

// tempFiles lists the temporary files (.tmp-*) under root.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
