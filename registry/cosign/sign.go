package cosign

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/eaglenotifier/talon/registry"
)

// SignResult says what Sign did.
type SignResult struct {
	// Tag is the signature tag, "sha256-<hex>.sig" in the artifact's repository.
	Tag name.Tag
	// Manifest is the signature manifest the tag names now.
	Manifest name.Digest
	// Signatures is how many signature layers that manifest has.
	Signatures int
	// Appended is false when the artifact already had a valid signature by this key (for
	// this digest and repository) and nothing was written.
	Appended bool
}

// Sign signs the artifact d with s the way `cosign sign --key` does (without a
// transparency log upload): it signs the simple-signing payload for d's digest and
// repository and appends it as a new layer to d's signature manifest, keeping every
// existing layer, creating the manifest if there is none. Signing again with a key that
// already signed d is a no-op (Appended false). Sign refuses to rewrite a signature
// manifest Fetch reports as malformed.
//
// Registries have no compare-and-swap for tags: two signers appending at the same moment
// can lose one signature (the last write wins). Sign writes by digest only; it never reads
// the artifact's tag.
func Sign(ctx context.Context, c *registry.Client, d name.Digest, s *Signer) (*SignResult, error) {
	tag, err := SignatureTag(d)
	if err != nil {
		return nil, err
	}
	var base v1.Image
	set, err := Fetch(ctx, c, d)
	switch {
	case errors.Is(err, ErrUnsigned):
		base = emptySignatures()
	case err != nil:
		return nil, fmt.Errorf("sign %s: %w", d, err)
	default:
		own, err := NewKeyVerifier(s.Public())
		if err != nil {
			return nil, err
		}
		if _, err := Verify(set, d, own, Options{}); err == nil {
			return &SignResult{Tag: tag, Manifest: tag.Context().Digest(set.ManifestDigest.String()),
				Signatures: len(set.Signatures)}, nil
		}
		if base, err = c.ReadImage(ctx, tag.Context().Digest(set.ManifestDigest.String())); err != nil {
			return nil, fmt.Errorf("sign %s: existing signatures: %w", d, err)
		}
	}
	p, err := NewPayload(d)
	if err != nil {
		return nil, err
	}
	sig, err := s.SignPayload(p)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(p, MediaTypeSimpleSigning),
		Annotations: map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", d, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", d, err)
	}
	written, err := c.WriteImage(ctx, tag, img)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", d, err)
	}
	return &SignResult{Tag: tag, Manifest: written, Signatures: len(m.Layers), Appended: true}, nil
}

// emptySignatures is the base of a new signature manifest, as cosign makes it: an OCI
// manifest with an OCI image config and no layers.
func emptySignatures() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}
