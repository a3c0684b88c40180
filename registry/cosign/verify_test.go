package cosign_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/eaglenotifier/talon/registry/cosign"
)

// sigOf builds one fetched signature (what Fetch would return) signed by s.
func sigOf(t *testing.T, s *cosign.Signer, payload []byte) cosign.Signature {
	t.Helper()
	sig, err := s.SignPayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	return cosign.Signature{Payload: payload, Signature: sig}
}

func rawPayload(ref, digest string) []byte {
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, ref, digest)
}

// TestVerify is the offline verifier's decision table: what is accepted, and the distinct
// reason for each refusal.
func TestVerify(t *testing.T) {
	orgA, orgB := newSigner(t, "a.pub"), newSigner(t, "b.pub")
	d := mustDigest(t, "reg.example:5000/acme/pdm@sha256:"+fmt.Sprintf("%064x", 1))
	other := d.Context().Digest("sha256:" + fmt.Sprintf("%064x", 2))
	good := payloadFor(t, d)
	tampered := sigOf(t, orgA, good)
	tampered.Signature[len(tampered.Signature)-1] ^= 1
	payloadSwapped := sigOf(t, orgA, payloadFor(t, other))
	payloadSwapped.Payload = good
	junk := cosign.Signature{Problem: fmt.Errorf("%w: layer has media type x", cosign.ErrMalformed)}

	for _, tc := range []struct {
		name string
		sigs []cosign.Signature
		opts cosign.Options
		want error // nil: verified by orgA's key
	}{
		{"signed by the trusted key", []cosign.Signature{sigOf(t, orgA, good)}, cosign.Options{}, nil},
		{"junk and other keys around a good signature", []cosign.Signature{junk, sigOf(t, orgB, good), sigOf(t, orgA, good)}, cosign.Options{}, nil},
		{"reference with a tag", []cosign.Signature{sigOf(t, orgA, rawPayload("reg.example:5000/acme/pdm:v1", d.DigestStr()))}, cosign.Options{}, nil},
		{"copy: original repository accepted explicitly",
			[]cosign.Signature{sigOf(t, orgA, rawPayload("origin.example/ci/pdm", d.DigestStr()))},
			cosign.Options{SignedRepositories: []string{"origin.example/ci/pdm"}}, nil},
		{"no layers", nil, cosign.Options{}, cosign.ErrUnsigned},
		{"signed only by another org's key", []cosign.Signature{sigOf(t, orgB, good)}, cosign.Options{}, cosign.ErrUntrusted},
		{"signature bytes altered", []cosign.Signature{tampered}, cosign.Options{}, cosign.ErrUntrusted},
		{"payload swapped under a signature", []cosign.Signature{payloadSwapped}, cosign.Options{}, cosign.ErrUntrusted},
		{"trusted signature of another digest", []cosign.Signature{sigOf(t, orgA, payloadFor(t, other))}, cosign.Options{}, cosign.ErrPayloadDigest},
		{"another digest wins over another key", []cosign.Signature{sigOf(t, orgB, good), sigOf(t, orgA, payloadFor(t, other))}, cosign.Options{}, cosign.ErrPayloadDigest},
		{"trusted signature naming another repository",
			[]cosign.Signature{sigOf(t, orgA, rawPayload("reg.example:5000/globex/pdm", d.DigestStr()))}, cosign.Options{}, cosign.ErrReferenceMismatch},
		{"same path on another registry host",
			[]cosign.Signature{sigOf(t, orgA, rawPayload("mirror.example/acme/pdm", d.DigestStr()))}, cosign.Options{}, cosign.ErrReferenceMismatch},
		{"trusted signature over a non-cosign payload", []cosign.Signature{sigOf(t, orgA, []byte(`{"critical":{"type":"atomic container signature"}}`))}, cosign.Options{}, cosign.ErrMalformed},
		{"trusted signature over a sha512 digest", []cosign.Signature{sigOf(t, orgA, rawPayload(d.Context().Name(), "sha512:"+fmt.Sprintf("%0128x", 1)))}, cosign.Options{}, cosign.ErrMalformed},
		{"trusted signature over trailing data", []cosign.Signature{sigOf(t, orgA, append(append([]byte(nil), good...), good...))}, cosign.Options{}, cosign.ErrMalformed},
		{"only malformed layers", []cosign.Signature{junk}, cosign.Options{}, cosign.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := &cosign.SignatureSet{Digest: d, Signatures: tc.sigs}
			for i := range set.Signatures {
				set.Signatures[i].Index = i
			}
			res, err := cosign.Verify(set, d, verifier(t, orgA), tc.opts)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || res != nil {
					t.Fatalf("Verify = %+v, %v; want %v", res, err, tc.want)
				}
				for _, e := range []error{cosign.ErrUnsigned, cosign.ErrUntrusted, cosign.ErrPayloadDigest, cosign.ErrReferenceMismatch, cosign.ErrMalformed} {
					if e != tc.want && errors.Is(err, e) {
						t.Fatalf("error %v also wraps %v: reasons must be distinct", err, e)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.Signer != orgA.Public().String() || res.Digest != d || res.Claim.Digest.String() != d.DigestStr() {
				t.Fatalf("Result = %+v", res)
			}
		})
	}
}

// TestVerifyPerOrgBinding: the same signature set verifies for the org that trusts the
// signer and is refused for the org that does not, even with many keys trusted.
func TestVerifyPerOrgBinding(t *testing.T) {
	acme, globex, extra := newSigner(t, "acme.pub"), newSigner(t, "globex.pub"), newSigner(t, "extra.pub")
	d := mustDigest(t, "reg.example/shared/pdm@sha256:"+fmt.Sprintf("%064x", 7))
	set := &cosign.SignatureSet{Digest: d, Signatures: []cosign.Signature{sigOf(t, globex, payloadFor(t, d))}}
	if _, err := cosign.Verify(set, d, verifier(t, acme, extra), cosign.Options{}); !errors.Is(err, cosign.ErrUntrusted) {
		t.Fatalf("acme verifying globex's signature: %v, want ErrUntrusted", err)
	}
	res, err := cosign.Verify(set, d, verifier(t, extra, globex), cosign.Options{})
	if err != nil || res.Signer != globex.Public().String() {
		t.Fatalf("globex: %+v, %v", res, err)
	}
}

// TestPayloadIsCosignsFormat: the payload Talon signs is byte for byte cosign's.
func TestPayloadIsCosignsFormat(t *testing.T) {
	d := mustDigest(t, "127.0.0.1:5000/acme/pdm@sha256:"+fmt.Sprintf("%064x", 3))
	want := rawPayload("127.0.0.1:5000/acme/pdm", d.DigestStr())
	if diff := cmp.Diff(string(want), string(payloadFor(t, d))); diff != "" {
		t.Fatalf("payload (-cosign +talon):\n%s", diff)
	}
	claim, err := cosign.ParsePayload(want)
	if err != nil || claim.Repository != "127.0.0.1:5000/acme/pdm" || claim.Digest.String() != d.DigestStr() {
		t.Fatalf("ParsePayload = %+v, %v", claim, err)
	}
	tag, err := cosign.SignatureTag(d)
	if err != nil || tag.String() != "127.0.0.1:5000/acme/pdm:sha256-"+fmt.Sprintf("%064x", 3)+".sig" {
		t.Fatalf("SignatureTag = %v, %v", tag, err)
	}
}

func mustDigest(t *testing.T, s string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
