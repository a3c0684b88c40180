package cosign_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

const modelV1, modelV2 = "../../testdata/pdm/pdm-v1.onnx", "../../testdata/pdm/pdm-v2.onnx"

// TestSignFetchVerify: sign, fetch and verify against a real (in-process) registry; signing
// appends, is idempotent per key, and writes cosign's manifest layout.
func TestSignFetchVerify(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t)
	c := newClient(t)
	d := pushArtifact(t, c, host+"/acme/pdm:v1", modelV1)
	ci, release := newSigner(t, "ci.key"), newSigner(t, "release.key")

	if _, err := cosign.Fetch(ctx, c, d); !errors.Is(err, cosign.ErrUnsigned) {
		t.Fatalf("Fetch before signing: %v, want ErrUnsigned", err)
	}
	steps := []struct {
		signer       *cosign.Signer
		wantAppended bool
		wantLayers   int
	}{
		{ci, true, 1},
		{ci, false, 1}, // same key again: nothing written
		{release, true, 2},
		{ci, false, 2},
	}
	for i, st := range steps {
		res, err := cosign.Sign(ctx, c, d, st.signer)
		if err != nil {
			t.Fatalf("step %d: Sign: %v", i, err)
		}
		if res.Appended != st.wantAppended || res.Signatures != st.wantLayers {
			t.Fatalf("step %d: Sign = %+v, want appended %v with %d layers", i, res, st.wantAppended, st.wantLayers)
		}
	}
	set, err := cosign.Fetch(ctx, c, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Signatures) != 2 {
		t.Fatalf("%d signatures, want 2", len(set.Signatures))
	}
	for _, s := range []*cosign.Signer{ci, release} {
		res, err := cosign.Verify(set, d, verifier(t, s), cosign.Options{})
		if err != nil || res.Signer != s.Public().String() {
			t.Fatalf("Verify with %s: %+v, %v", s.Public(), res, err)
		}
	}

	// The layout cosign writes and reads.
	m := readManifest(t, set.Tag)
	want := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON}}
	got := v1.Manifest{SchemaVersion: m.SchemaVersion, MediaType: m.MediaType, Config: v1.Descriptor{MediaType: m.Config.MediaType}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("signature manifest (-want +got):\n%s", diff)
	}
	for i, l := range m.Layers {
		if l.MediaType != cosign.MediaTypeSimpleSigning || len(l.Annotations) != 1 || l.Annotations[cosign.AnnotationSignature] == "" {
			t.Fatalf("layer %d = %+v", i, l)
		}
		if string(set.Signatures[i].Payload) != string(payloadFor(t, d)) {
			t.Fatalf("layer %d payload %s", i, set.Signatures[i].Payload)
		}
	}
}

// TestSignKeepsForeignLayers: signing appends to a manifest written by someone else
// (including layers Talon does not understand) without dropping anything.
func TestSignKeepsForeignLayers(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t)
	c := newClient(t)
	d := pushArtifact(t, c, host+"/acme/pdm:v1", modelV1)
	other := newSigner(t, "other.key")
	foreign := layer{payload: []byte(`{"some":"attestation"}`), mediaType: "application/vnd.example.thing+json"}
	putSignatures(t, d, types.OCIManifestSchema1, signedLayer(t, other, payloadFor(t, d)), foreign)
	before := readManifest(t, mustTag(t, d))

	ci := newSigner(t, "ci.key")
	if _, err := cosign.Sign(ctx, c, d, ci); err != nil {
		t.Fatal(err)
	}
	after := readManifest(t, mustTag(t, d))
	if diff := cmp.Diff(before.Layers, after.Layers[:len(before.Layers)]); diff != "" || len(after.Layers) != 3 {
		t.Fatalf("layers before/after signing (-before +after):\n%s\n%d layers", diff, len(after.Layers))
	}
	set, err := cosign.Fetch(ctx, c, d)
	if err != nil {
		t.Fatal(err)
	}
	if set.Signatures[1].Problem == nil || !errors.Is(set.Signatures[1].Problem, cosign.ErrMalformed) {
		t.Fatalf("foreign layer Problem = %v, want ErrMalformed", set.Signatures[1].Problem)
	}
	if _, err := cosign.Verify(set, d, verifier(t, ci), cosign.Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestFetchRefusals: what Fetch refuses before any verification, each for its own reason.
func TestFetchRefusals(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t, "ci.key")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, d name.Digest) []registrytest.Middleware
		want  error
	}{
		{"signature tag holds an index", func(t *testing.T, d name.Digest) []registrytest.Middleware {
			putRaw(t, mustTag(t, d), types.OCIImageIndex, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
			return nil
		}, cosign.ErrMalformed},
		{"Docker schema 1 manifest", func(t *testing.T, d name.Digest) []registrytest.Middleware {
			putRaw(t, mustTag(t, d), types.DockerManifestSchema1, []byte(`{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}`))
			return nil
		}, cosign.ErrMalformed},
		{"too many layers", func(t *testing.T, d name.Digest) []registrytest.Middleware {
			l := signedLayer(t, s, payloadFor(t, d))
			ls := make([]layer, cosign.MaxSignatures+1)
			for i := range ls {
				ls[i] = l
			}
			putSignatures(t, d, types.OCIManifestSchema1, ls...)
			return nil
		}, cosign.ErrMalformed},
		{"manifest with no layers", func(t *testing.T, d name.Digest) []registrytest.Middleware {
			putSignatures(t, d, types.OCIManifestSchema1)
			return nil
		}, cosign.ErrUnsigned},
		{"payload blob served with other bytes", func(t *testing.T, d name.Digest) []registrytest.Middleware {
			l := signedLayer(t, s, payloadFor(t, d))
			putSignatures(t, d, types.OCIManifestSchema1, l)
			evil := rawPayload(d.Context().Name(), "sha256:"+fmt.Sprintf("%064x", 9))
			return []registrytest.Middleware{registrytest.ReplaceBlob(sha(l.payload), evil)}
		}, registry.ErrDigestMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mw []registrytest.Middleware
			host := registrytest.Start(t, func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					h := next
					for i := len(mw) - 1; i >= 0; i-- {
						h = mw[i](h)
					}
					h.ServeHTTP(w, r)
				})
			})
			c := newClient(t)
			d := pushArtifact(t, c, host+"/acme/pdm:v1", modelV1)
			mw = tc.setup(t, d)
			_, err := cosign.Fetch(ctx, c, d)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Fetch: %v, want %v", err, tc.want)
			}
			if tc.want == cosign.ErrMalformed {
				if _, err := cosign.Sign(ctx, c, d, s); !errors.Is(err, cosign.ErrMalformed) {
					t.Fatalf("Sign over a malformed manifest: %v, want ErrMalformed", err)
				}
			}
		})
	}
}

// TestFetchSkipsBadLayers: layers without a usable signature are kept with a Problem, and
// a valid signature beside them still verifies.
func TestFetchSkipsBadLayers(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t)
	c := newClient(t)
	d := pushArtifact(t, c, host+"/acme/pdm:v1", modelV1)
	s := newSigner(t, "ci.key")
	noSig := layer{payload: payloadFor(t, d), mediaType: cosign.MediaTypeSimpleSigning}
	badB64 := layer{payload: payloadFor(t, d), mediaType: cosign.MediaTypeSimpleSigning,
		annotations: map[string]string{cosign.AnnotationSignature: "not base64!"}}
	putSignatures(t, d, types.OCIManifestSchema1, noSig, badB64, signedLayer(t, s, payloadFor(t, d)))
	set, err := cosign.Fetch(ctx, c, d)
	if err != nil {
		t.Fatal(err)
	}
	var problems []bool
	for _, sig := range set.Signatures {
		problems = append(problems, errors.Is(sig.Problem, cosign.ErrMalformed))
	}
	if diff := cmp.Diff([]bool{true, true, false}, problems); diff != "" {
		t.Fatalf("problems (-want +got):\n%s", diff)
	}
	if _, err := cosign.Verify(set, d, verifier(t, s), cosign.Options{}); err != nil {
		t.Fatal(err)
	}
	putSignatures(t, d, types.OCIManifestSchema1, noSig, badB64)
	set, err = cosign.Fetch(ctx, c, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cosign.Verify(set, d, verifier(t, s), cosign.Options{}); !errors.Is(err, cosign.ErrMalformed) {
		t.Fatalf("only bad layers: %v, want ErrMalformed", err)
	}
}

// TestSignatureReplayAcrossDigests: the signature manifest of v2 copied onto v1's signature
// tag (and the other way) is refused: a signature vouches for its own digest only.
func TestSignatureReplayAcrossDigests(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t)
	c := newClient(t)
	s := newSigner(t, "ci.key")
	d1 := pushArtifact(t, c, host+"/acme/pdm:v1", modelV1)
	d2 := pushArtifact(t, c, host+"/acme/pdm:v2", modelV2)
	for _, d := range []name.Digest{d1, d2} {
		if _, err := cosign.Sign(ctx, c, d, s); err != nil {
			t.Fatal(err)
		}
	}
	swap := func(from, to name.Digest) {
		img, err := remote.Image(mustTag(t, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(mustTag(t, to), img); err != nil {
			t.Fatal(err)
		}
	}
	swap(d2, d1) // v1's tag now holds v2's signatures
	set, err := cosign.Fetch(ctx, c, d1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cosign.Verify(set, d1, verifier(t, s), cosign.Options{}); !errors.Is(err, cosign.ErrPayloadDigest) {
		t.Fatalf("v1 with v2's signatures: %v, want ErrPayloadDigest", err)
	}
	if _, err := cosign.Sign(ctx, c, d2, s); err != nil { // re-sign is a no-op for v2
		t.Fatal(err)
	}
	set2, err := cosign.Fetch(ctx, c, d2)
	if err != nil {
		t.Fatal(err)
	}
	// A set fetched for v2 proves nothing about v1, whatever the caller passes.
	if _, err := cosign.Verify(set2, d1, verifier(t, s), cosign.Options{}); !errors.Is(err, cosign.ErrPayloadDigest) {
		t.Fatalf("v2's set verifying v1: %v, want ErrPayloadDigest", err)
	}
}

func mustTag(t testing.TB, d name.Digest) name.Tag {
	t.Helper()
	tag, err := cosign.SignatureTag(d)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func readManifest(t testing.TB, tag name.Tag) *v1.Manifest {
	t.Helper()
	desc, err := remote.Get(tag)
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func putRaw(t testing.TB, tag name.Tag, mt types.MediaType, raw []byte) {
	t.Helper()
	if err := remote.Put(tag, rawManifest{raw: raw, mt: mt}); err != nil {
		t.Fatal(err)
	}
}

func sha(b []byte) v1.Hash {
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		panic(err)
	}
	return h
}
