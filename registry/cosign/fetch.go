package cosign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/eaglenotifier/talon/registry"
)

const (
	// MaxSignatures is the most signature layers Fetch reads; a manifest with more is
	// ErrMalformed (someone with push access could otherwise make verification slow).
	MaxSignatures = 128
	// MaxPayloadSize is the largest signed payload Fetch reads: 64 KiB (cosign's are a
	// few hundred bytes, plus any -a annotations).
	MaxPayloadSize = 64 << 10
	// maxSignatureB64 bounds the base64 signature annotation (RSA-4096 is 684 characters).
	maxSignatureB64 = 4096
)

// SignatureSet is everything a signature manifest says about one artifact, fetched and
// checked against digests but not yet verified. Verify decides what it proves.
type SignatureSet struct {
	// Digest is the artifact the signatures were fetched for.
	Digest name.Digest
	// Tag is the signature tag read, "sha256-<hex>.sig" in Digest's repository.
	Tag name.Tag
	// ManifestDigest is the sha256 of the signature manifest as read.
	ManifestDigest v1.Hash
	// Signatures are the manifest's layers, in order.
	Signatures []Signature
}

// Signature is one layer of a signature manifest.
type Signature struct {
	// Index is the layer's position in the signature manifest.
	Index int
	// Layer is the layer's digest; Payload hashes to it.
	Layer v1.Hash
	// Payload is the signed simple-signing document. It is untrusted until a Verifier
	// accepts Signature over it.
	Payload []byte
	// Signature is the decoded dev.cosignproject.cosign/signature annotation.
	Signature []byte
	// Annotations are the layer's annotations (certificate, chain and bundle, for keyless).
	Annotations map[string]string
	// Problem, when not nil, says why this layer is not a usable signature (it wraps
	// ErrMalformed); Payload and Signature are then empty. Verify skips such layers.
	Problem error
}

// Fetch reads the signatures of d from d's repository: the manifest tagged
// "sha256-<hex>.sig" and the payload blob of each of its layers (at most MaxSignatures,
// each at most MaxPayloadSize bytes, each checked against its digest). No signature tag is
// ErrUnsigned; a manifest that is not a cosign signature manifest is ErrMalformed; a layer
// that is not a usable signature is kept with its Problem set. Transport failures and
// registry content that does not match its digest (registry.ErrDigestMismatch) are
// returned wrapped as they are: the former may be retried.
func Fetch(ctx context.Context, c *registry.Client, d name.Digest) (*SignatureSet, error) {
	repo, err := c.OpenRepository(ctx, d.Context())
	if err != nil {
		return nil, fmt.Errorf("signatures of %s: %w", d, err)
	}
	return FetchFrom(ctx, repo, d)
}

// FetchFrom is Fetch through an open repository session (which must be d's repository),
// saving the session setup when several digests of one repository are checked.
func FetchFrom(ctx context.Context, repo *registry.Repository, d name.Digest) (*SignatureSet, error) {
	if repo.Name().Name() != d.Context().Name() {
		return nil, fmt.Errorf("signatures of %s: session is for repository %s", d, repo.Name())
	}
	tag, err := SignatureTag(d)
	if err != nil {
		return nil, err
	}
	m, err := repo.ReadTaggedManifest(ctx, tag.TagStr())
	if errors.Is(err, registry.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s has no signature tag %s (sign it with `talon sign` or `cosign sign`, and copy the .sig tag along with the artifact)",
			ErrUnsigned, d, tag.TagStr())
	}
	if err != nil {
		return nil, fmt.Errorf("signatures of %s: %w", d, err)
	}
	set := &SignatureSet{Digest: d, Tag: tag, ManifestDigest: m.Digest}
	layers, err := parseSignatureManifest(m.Raw, m.MediaType)
	if err != nil {
		return nil, fmt.Errorf("signatures of %s: %s: %w", d, tag.TagStr(), err)
	}
	for i, l := range layers {
		s := Signature{Index: i, Layer: l.Digest, Annotations: l.Annotations}
		if s.Problem = checkLayer(l); s.Problem == nil {
			s.Signature, _ = base64.StdEncoding.DecodeString(l.Annotations[AnnotationSignature])
			s.Payload, err = repo.ReadBlob(ctx, l.Digest, l.Size, MaxPayloadSize)
			if err != nil {
				return nil, fmt.Errorf("signatures of %s: payload of layer %d: %w", d, i, err)
			}
		}
		set.Signatures = append(set.Signatures, s)
	}
	return set, nil
}

// parseSignatureManifest checks that raw is an image manifest (OCI, or Docker schema 2 as
// cosign writes with DOCKER_MEDIA_TYPES=1) and returns its layers.
func parseSignatureManifest(raw []byte, contentType string) ([]v1.Descriptor, error) {
	var m struct {
		SchemaVersion int64           `json:"schemaVersion"`
		MediaType     types.MediaType `json:"mediaType"`
		Layers        []v1.Descriptor `json:"layers"`
		Manifests     json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest is not valid JSON: %v", ErrMalformed, err)
	}
	mt := m.MediaType
	if mt == "" {
		ct, _, _ := mime.ParseMediaType(contentType)
		mt = types.MediaType(ct)
	}
	switch {
	case m.Manifests != nil || mt.IsIndex():
		return nil, fmt.Errorf("%w: signature tag holds an index (%s), not an image manifest", ErrMalformed, mt)
	case mt != types.OCIManifestSchema1 && mt != types.DockerManifestSchema2:
		return nil, fmt.Errorf("%w: manifest media type %q, want %q", ErrMalformed, mt, types.OCIManifestSchema1)
	case m.SchemaVersion != 2:
		return nil, fmt.Errorf("%w: schemaVersion %d, want 2", ErrMalformed, m.SchemaVersion)
	case len(m.Layers) == 0:
		return nil, fmt.Errorf("%w: the signature manifest has no layers", ErrUnsigned)
	case len(m.Layers) > MaxSignatures:
		return nil, fmt.Errorf("%w: %d signature layers, limit %d", ErrMalformed, len(m.Layers), MaxSignatures)
	}
	return m.Layers, nil
}

// checkLayer says why a layer is not a usable key signature, or nil.
func checkLayer(l v1.Descriptor) error {
	b64, ok := l.Annotations[AnnotationSignature]
	switch {
	case l.MediaType != MediaTypeSimpleSigning:
		return fmt.Errorf("%w: layer %s has media type %q, want %q", ErrMalformed, l.Digest, l.MediaType, MediaTypeSimpleSigning)
	case l.Digest.Algorithm != "sha256":
		return fmt.Errorf("%w: layer digest %q is not sha256", ErrMalformed, l.Digest)
	case l.Size < 0 || l.Size > MaxPayloadSize:
		return fmt.Errorf("%w: layer %s declares %d bytes, limit %d", ErrMalformed, l.Digest, l.Size, MaxPayloadSize)
	case !ok || b64 == "":
		return fmt.Errorf("%w: layer %s has no %s annotation", ErrMalformed, l.Digest, AnnotationSignature)
	case len(b64) > maxSignatureB64:
		return fmt.Errorf("%w: layer %s: signature annotation of %d characters, limit %d", ErrMalformed, l.Digest, len(b64), maxSignatureB64)
	}
	if _, err := base64.StdEncoding.DecodeString(b64); err != nil {
		return fmt.Errorf("%w: layer %s: signature annotation is not base64: %v", ErrMalformed, l.Digest, err)
	}
	return nil
}
