package cosign_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
)

const testPassword = "correct horse battery staple"

// newClient returns a Client that uses no local credentials.
func newClient(t testing.TB) *registry.Client {
	t.Helper()
	c, err := registry.New(registry.WithKeychain(authn.NewMultiKeychain()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newSigner generates a fresh key pair and loads its private key.
func newSigner(t testing.TB, name string) *cosign.Signer {
	t.Helper()
	priv, _, err := cosign.GenerateKeyPair([]byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cosign.LoadPrivateKey(name, priv, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifier(t testing.TB, signers ...*cosign.Signer) *cosign.KeyVerifier {
	t.Helper()
	var keys []*cosign.PublicKey
	for _, s := range signers {
		keys = append(keys, s.Public())
	}
	v, err := cosign.NewKeyVerifier(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// pushArtifact pushes a small ModelPack artifact to host/repo:tag and returns its digest.
func pushArtifact(t testing.TB, c *registry.Client, ref, model string) name.Digest {
	t.Helper()
	d, err := c.Push(context.Background(), ref, registry.PushInput{ModelPath: model})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// layer is one hand-made signature layer.
type layer struct {
	payload     []byte
	mediaType   types.MediaType
	annotations map[string]string
}

// signedLayer signs payload with s, as cosign would lay it out.
func signedLayer(t testing.TB, s *cosign.Signer, payload []byte) layer {
	t.Helper()
	sig, err := s.SignPayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	return layer{payload: payload, mediaType: cosign.MediaTypeSimpleSigning,
		annotations: map[string]string{cosign.AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}}
}

func payloadFor(t testing.TB, d name.Digest) []byte {
	t.Helper()
	p, err := cosign.NewPayload(d)
	if err != nil {
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

// putSignatures writes a signature manifest with the given layers at d's signature tag,
// uploading the payloads, bypassing Talon's signing code.
func putSignatures(t testing.TB, d name.Digest, mt types.MediaType, layers ...layer) {
	t.Helper()
	tag, err := cosign.SignatureTag(d)
	if err != nil {
		t.Fatal(err)
	}
	cfg := []byte(`{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`)
	m := v1.Manifest{SchemaVersion: 2, MediaType: mt}
	upload := func(data []byte, mt types.MediaType) v1.Descriptor {
		l := static.NewLayer(data, mt)
		if err := remote.WriteLayer(tag.Context(), l); err != nil {
			t.Fatalf("upload blob: %v", err)
		}
		h, _ := l.Digest()
		return v1.Descriptor{MediaType: mt, Size: int64(len(data)), Digest: h}
	}
	m.Config = upload(cfg, types.OCIConfigJSON)
	for _, l := range layers {
		desc := upload(l.payload, l.mediaType)
		desc.Annotations = l.annotations
		m.Layers = append(m.Layers, desc)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(tag, rawManifest{raw: raw, mt: mt}); err != nil {
		t.Fatalf("put signature manifest: %v", err)
	}
}
