package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/eaglenotifier/talon/registry"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// newClient returns a Client that uses no local credentials.
func newClient(t testing.TB, opts ...registry.Option) *registry.Client {
	t.Helper()
	c, err := registry.New(append([]registry.Option{registry.WithKeychain(authn.NewMultiKeychain())}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rawManifest lets a test PUT any manifest bytes, as a third-party client would.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// blob is a layer (or config) a hand-built manifest refers to.
type blob struct {
	data        []byte
	mediaType   types.MediaType
	annotations map[string]string
}

func (b blob) descriptor() v1.Descriptor {
	return v1.Descriptor{MediaType: b.mediaType, Size: int64(len(b.data)), Digest: sha(b.data), Annotations: b.annotations}
}

func sha(b []byte) v1.Hash {
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		panic(err)
	}
	return h
}

// putManifest uploads config and layers with go-containerregistry and PUTs a manifest built
// from m (Config and Layers are filled in here) at ref, returning its digest reference.
func putManifest(t testing.TB, ref string, m v1.Manifest, config blob, layers ...blob) name.Digest {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range append([]blob{config}, layers...) {
		if err := remote.WriteLayer(tag.Context(), static.NewLayer(b.data, b.mediaType)); err != nil {
			t.Fatalf("upload blob: %v", err)
		}
	}
	m.Config = config.descriptor()
	m.Layers = nil
	for _, l := range layers {
		m.Layers = append(m.Layers, l.descriptor())
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	if err := remote.Put(tag, rawManifest{raw: raw, mt: mt}); err != nil {
		t.Fatalf("put manifest: %v", err)
	}
	return tag.Context().Digest(sha(raw).String())
}

// fetch resolves ref and fetches it.
func fetch(t testing.TB, c *registry.Client, ref string) (*registry.Artifact, error) {
	t.Helper()
	d, err := c.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatalf("Resolve(%s): %v", ref, err)
	}
	return c.Fetch(context.Background(), d)
}
