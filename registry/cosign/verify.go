package cosign

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Verifier decides whether one signature was made by a signer it trusts. Implementations
// hold their trust material (keys, or for keyless a trusted root and identities) and must
// be pure: no network or file I/O, so Verify stays offline. KeyVerifier is the key-based
// one; see the package documentation for the keyless plan.
type Verifier interface {
	// VerifySignature checks sig.Signature over sig.Payload. It returns a description of
	// the trusted signer that made it (for logs and status), or an error wrapping
	// ErrUntrusted.
	VerifySignature(sig *Signature) (signer string, err error)
}

// KeyVerifier trusts signatures made with any of its public keys, and nothing else.
type KeyVerifier struct {
	keys []*PublicKey
}

// NewKeyVerifier returns a Verifier trusting exactly keys. No keys is ErrNoTrustedKeys.
func NewKeyVerifier(keys ...*PublicKey) (*KeyVerifier, error) {
	if len(keys) == 0 {
		return nil, ErrNoTrustedKeys
	}
	for i, k := range keys {
		if k == nil || k.verifier == nil {
			return nil, fmt.Errorf("trusted key %d: not made by ParsePublicKey or NewPublicKey", i)
		}
	}
	return &KeyVerifier{keys: append([]*PublicKey(nil), keys...)}, nil
}

// Keys returns the trusted keys.
func (v *KeyVerifier) Keys() []*PublicKey { return append([]*PublicKey(nil), v.keys...) }

// VerifySignature implements Verifier: the first trusted key the signature verifies with.
func (v *KeyVerifier) VerifySignature(sig *Signature) (string, error) {
	for _, k := range v.keys {
		if k.verify(sig.Signature, sig.Payload) {
			return k.String(), nil
		}
	}
	return "", ErrUntrusted
}

// String lists the trusted keys.
func (v *KeyVerifier) String() string {
	names := make([]string, len(v.keys))
	for i, k := range v.keys {
		names[i] = k.String()
	}
	return strings.Join(names, ", ")
}

// Options adjust Verify. The zero value is the strict default.
type Options struct {
	// SignedRepositories are repositories ("host/path") that a signed payload's
	// docker-reference may name besides the repository of the digest being verified. Use
	// it for an artifact deployed from a copy (mirror) whose signatures were copied along
	// from where it was signed: list the original repository. The default is none: the
	// docker-reference must name the digest's own repository (registry host included).
	SignedRepositories []string
}

// Result says what verified.
type Result struct {
	// Digest is the artifact verified (the digest argument of Verify).
	Digest name.Digest
	// Signer describes the trusted signer, e.g. "keys/ci.pub (sha256:3f2a…9c01)".
	Signer string
	// Index is the position of the verifying layer in the signature manifest.
	Index int
	// Claim is the verified payload's content.
	Claim Claim
}

// Verify decides, offline, whether set proves that d was signed by a signer v trusts: at
// least one signature must verify with v, and its payload must name d's digest and d's
// repository (or one of opts.SignedRepositories). The payload is only read after its
// signature verified. Other signatures in the set (junk, other keys) do not matter.
//
// When nothing verifies, the error wraps the most specific reason found, in this order:
// ErrPayloadDigest, ErrReferenceMismatch, ErrMalformed (a trusted signature over a bad
// payload), ErrUntrusted, ErrMalformed (no usable layer at all), ErrUnsigned (no layer).
func Verify(set *SignatureSet, d name.Digest, v Verifier, opts Options) (*Result, error) {
	if set == nil || v == nil {
		return nil, errors.New("verify: nil signature set or verifier")
	}
	want := map[string]bool{d.Context().Name(): true}
	for _, r := range opts.SignedRepositories {
		n, err := normalizeRepository(r)
		if err != nil {
			return nil, fmt.Errorf("verify %s: signed repository: %w", d, err)
		}
		want[n] = true
	}
	var digestErr, refErr, payloadErr, layerErr error
	untrusted, total := 0, len(set.Signatures)
	for i := range set.Signatures {
		s := &set.Signatures[i]
		which := fmt.Sprintf("signature %d of %d", s.Index+1, total)
		if s.Problem != nil {
			layerErr = s.Problem
			continue
		}
		signer, err := v.VerifySignature(s)
		if err != nil {
			untrusted++
			continue
		}
		claim, err := ParsePayload(s.Payload)
		if err != nil {
			payloadErr = fmt.Errorf("%s, by %s: %w", which, signer, err)
			continue
		}
		if claim.Digest.String() != d.DigestStr() {
			digestErr = fmt.Errorf("%w: %s, by %s, vouches for %s, not %s (a signature copied from another artifact)",
				ErrPayloadDigest, which, signer, claim.Digest, d.DigestStr())
			continue
		}
		if !want[claim.Repository] {
			refErr = fmt.Errorf("%w: %s, by %s, names %q, want %s (for a copied artifact, accept the original repository explicitly)",
				ErrReferenceMismatch, which, signer, claim.Reference, strings.Join(slices.Sorted(maps.Keys(want)), " or "))
			continue
		}
		return &Result{Digest: d, Signer: signer, Index: s.Index, Claim: *claim}, nil
	}
	var why error
	switch {
	case digestErr != nil:
		why = digestErr
	case refErr != nil:
		why = refErr
	case payloadErr != nil:
		why = payloadErr
	case untrusted > 0:
		why = fmt.Errorf("%w: %d signature(s), none by %s (the artifact was signed with a key this org does not trust)",
			ErrUntrusted, untrusted, describe(v))
	case layerErr != nil:
		why = layerErr
	default:
		why = fmt.Errorf("%w: the signature manifest has no signatures", ErrUnsigned)
	}
	return nil, fmt.Errorf("verify %s (%s): %w", d, set.Tag.TagStr(), why)
}

func describe(v Verifier) string {
	if s, ok := v.(fmt.Stringer); ok {
		return s.String()
	}
	return "a trusted signer"
}
