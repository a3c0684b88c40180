package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// pushOne pushes a ModelPack artifact holding model to host and returns the tag pushed.
func pushOne(t *testing.T, host string, model []byte) string {
	t.Helper()
	ref := host + "/acme/pdm:v1"
	in := registry.PushInput{ModelPath: writeFile(t, t.TempDir(), "model.onnx", model)}
	if _, err := newClient(t).Push(context.Background(), ref, in); err != nil {
		t.Fatalf("Push: %v", err)
	}
	return ref
}

// A registry that serves other bytes for the model blob: the read fails, at open (an
// honest Content-Length that disagrees with the manifest) or at EOF (digest or length).
func TestCorruptedModelBlob(t *testing.T) {
	t.Run("small", func(t *testing.T) { testCorruptedModelBlob(t, 100_000) })
	t.Run("read ahead", func(t *testing.T) { testCorruptedModelBlob(t, 5<<20+3) }) // ≥ readaheadMin
}

func testCorruptedModelBlob(t *testing.T, size int) {
	model := randomBytes(8, size)
	d := sha(model)
	flipped := bytes.Clone(model)
	flipped[len(flipped)/2] ^= 0xff
	longer := append(bytes.Clone(model), "trailing garbage"...)
	tests := []struct {
		name    string
		mw      registrytest.Middleware
		wantErr error
	}{
		{"same length, wrong bytes", registrytest.ReplaceBlob(d, flipped), registry.ErrDigestMismatch},
		{"same length, wrong bytes, chunked", registrytest.ReplaceBlobChunked(d, flipped), registry.ErrDigestMismatch},
		{"longer, Content-Length", registrytest.ReplaceBlob(d, longer), registry.ErrSizeMismatch},
		{"right bytes then more, chunked", registrytest.ReplaceBlobChunked(d, longer), registry.ErrSizeMismatch},
		{"shorter, chunked", registrytest.ReplaceBlobChunked(d, model[:len(model)-1]), registry.ErrSizeMismatch},
		{"empty, chunked", registrytest.ReplaceBlobChunked(d, nil), registry.ErrSizeMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := registrytest.Start(t, tc.mw)
			a, err := fetch(t, newClient(t), pushOne(t, host, model))
			if err != nil {
				t.Fatalf("Fetch: %v (only the model blob is corrupted)", err)
			}
			for _, byRead := range []bool{false, true} { // WriteTo (lent buffers), and Read
				n, err := readModelWith(a, byRead)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("read model (Read %v): %d bytes, %v; want %v", byRead, n, err, tc.wantErr)
				}
				t.Log(err)
				if n > int64(len(model)) {
					t.Errorf("read %d bytes, more than the declared %d", n, len(model))
				}
				if !strings.Contains(err.Error(), d.String()) {
					t.Errorf("error %q does not name the blob digest", err)
				}
			}
		})
	}
}

func readModel(a *registry.Artifact) (int64, error) { return readModelWith(a, false) }

// readModelWith reads the model layer through io.Copy, which uses the reader's WriteTo,
// or, byRead, through its Read alone.
func readModelWith(a *registry.Artifact, byRead bool) (int64, error) {
	rc, err := a.OpenModel(context.Background())
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if byRead {
		return io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, make([]byte, 100_000))
	}
	return io.Copy(io.Discard, rc)
}

// A registry that answers a digest request with another manifest: Fetch fails closed.
func TestFetchManifestSubstituted(t *testing.T) {
	var swap struct{ from, to string }
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if swap.from != "" && strings.HasSuffix(r.URL.Path, "/manifests/"+swap.from) {
				r.URL.Path = strings.TrimSuffix(r.URL.Path, swap.from) + swap.to
			}
			next.ServeHTTP(w, r)
		})
	}
	host := registrytest.Start(t, mw)
	c := newClient(t)
	ctx := context.Background()
	dir := t.TempDir()
	d1, err := c.Push(ctx, host+"/acme/pdm:v1", registry.PushInput{ModelPath: writeFile(t, dir, "a.onnx", []byte("one"))})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := c.Push(ctx, host+"/acme/pdm:v2", registry.PushInput{ModelPath: writeFile(t, dir, "b.onnx", []byte("two"))})
	if err != nil {
		t.Fatal(err)
	}
	swap.from, swap.to = d1.DigestStr(), d2.DigestStr() // set before any concurrent use
	_, err = c.Fetch(ctx, d1)
	if !errors.Is(err, registry.ErrDigestMismatch) || !strings.Contains(err.Error(), d1.DigestStr()) {
		t.Errorf("Fetch with a substituted manifest: %v; want ErrDigestMismatch naming %s", err, d1.DigestStr())
	}
}

func TestValidateFilename(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"model.onnx", true},
		{"pdm v2 (final).onnx", true},
		{"modèle.onnx", true},
		{strings.Repeat("a", 250) + ".onnx", true},
		{strings.Repeat("a", 251) + ".onnx", false},
		{"", false},
		{".", false},
		{"..", false},
		{"../evil.onnx", false},
		{"..evil.onnx", false},
		{"a/b.onnx", false},
		{"/etc/passwd", false},
		{`..\evil.onnx`, false},
		{"a\x00.onnx", false},
		{"a\n.onnx", false},
	}
	for _, tc := range tests {
		err := registry.ValidateFilename(tc.name)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, registry.ErrUnsafeFilename)) {
			t.Errorf("ValidateFilename(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
