package cosign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Media types and annotations of cosign signature manifests.
const (
	// MediaTypeSimpleSigning is the media type of a signature layer (the signed payload).
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	// AnnotationSignature holds the base64 (standard encoding) signature of the payload.
	AnnotationSignature = "dev.cosignproject.cosign/signature"
	// AnnotationCertificate, AnnotationChain and AnnotationBundle carry keyless evidence
	// (Fulcio certificate and chain, Rekor bundle); key-based verification ignores them.
	AnnotationCertificate = "dev.sigstore.cosign/certificate"
	AnnotationChain       = "dev.sigstore.cosign/chain"
	AnnotationBundle      = "dev.sigstore.cosign/bundle"
)

// SignatureTag returns the tag cosign stores d's signatures under, in d's repository:
// "sha256-<hex>.sig".
func SignatureTag(d name.Digest) (name.Tag, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return name.Tag{}, fmt.Errorf("signature tag of %s: %w", d, err)
	}
	return d.Context().Tag(h.Algorithm + "-" + h.Hex + ".sig"), nil
}

// NewPayload returns the simple-signing payload that vouches for d: docker-reference is d's
// repository ("host/path"), docker-manifest-digest d's digest, optional null — byte for
// byte what cosign v2 signs.
func NewPayload(d name.Digest) ([]byte, error) {
	if _, err := v1.NewHash(d.DigestStr()); err != nil {
		return nil, fmt.Errorf("payload for %s: %w", d, err)
	}
	b, err := payload.Cosign{Image: d}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("payload for %s: %w", d, err)
	}
	return b, nil
}

// Claim is what a signed payload vouches for.
type Claim struct {
	// Digest is critical.image.docker-manifest-digest.
	Digest v1.Hash
	// Reference is critical.identity.docker-reference as written by the signer.
	Reference string
	// Repository is Reference's repository, normalized ("index.docker.io/library/x" for
	// "x"), without tag or digest.
	Repository string
	// Optional is the payload's optional object (annotations given at signing time).
	Optional map[string]any
}

// ParsePayload decodes a cosign simple-signing payload. Call it only on a payload whose
// signature has been verified: its content is an attacker's until then. Anything but a
// JSON object of type "cosign container image signature" with a sha256 digest and a
// parsable docker-reference is ErrMalformed.
func ParsePayload(p []byte) (*Claim, error) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var s payload.SimpleContainerImage
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: payload is not a simple-signing JSON document: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: payload has data after the JSON document", ErrMalformed)
	}
	if s.Critical.Type != payload.CosignSignatureType {
		return nil, fmt.Errorf("%w: payload critical.type %q, want %q", ErrMalformed, s.Critical.Type, payload.CosignSignatureType)
	}
	h, err := v1.NewHash(s.Critical.Image.DockerManifestDigest)
	if err != nil || h.Algorithm != "sha256" {
		return nil, fmt.Errorf("%w: payload docker-manifest-digest %q is not a sha256 digest", ErrMalformed, s.Critical.Image.DockerManifestDigest)
	}
	repo, err := normalizeRepository(s.Critical.Identity.DockerReference)
	if err != nil {
		return nil, fmt.Errorf("%w: payload docker-reference: %v", ErrMalformed, err)
	}
	return &Claim{Digest: h, Reference: s.Critical.Identity.DockerReference, Repository: repo, Optional: s.Optional}, nil
}

// normalizeRepository returns the repository a reference names ("host/path"), dropping a
// tag or digest, with go-containerregistry's defaults for Docker Hub.
func normalizeRepository(ref string) (string, error) {
	if ref == "" || strings.TrimSpace(ref) != ref {
		return "", fmt.Errorf("empty or padded reference %q", ref)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		if repo, rerr := name.NewRepository(ref); rerr == nil {
			return repo.Name(), nil
		}
		return "", fmt.Errorf("%q: %v", ref, err)
	}
	return r.Context().Name(), nil
}
