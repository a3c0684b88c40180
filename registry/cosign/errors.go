package cosign

import "errors"

// Verification errors. Every error Verify (and Fetch, for ErrUnsigned and ErrMalformed)
// returns for a refused artifact wraps exactly one of these, so callers report and branch
// with errors.Is. All of them mean "do not deploy"; none is cured by retrying, except that a
// signature may be added later.
var (
	// ErrUnsigned: the repository has no signature tag (sha256-<hex>.sig) for the digest,
	// or the signature manifest has no layers.
	ErrUnsigned = errors.New("artifact is not signed")
	// ErrUntrusted: there are signatures, but none verifies with the trusted keys (signed
	// with another key, for example another org's).
	ErrUntrusted = errors.New("no signature verifies with the trusted keys")
	// ErrPayloadDigest: a signature by a trusted key verifies, but its payload vouches for
	// another digest (a signature replayed from another artifact).
	ErrPayloadDigest = errors.New("signed payload is for another digest")
	// ErrReferenceMismatch: a signature by a trusted key for this digest names another
	// repository in its docker-reference than the one being verified (or accepted with
	// Options.SignedRepositories).
	ErrReferenceMismatch = errors.New("signed payload names another repository")
	// ErrMalformed: the signature manifest, a signature layer or a signed payload is not
	// in cosign's format (wrong media types, missing or invalid signature annotation,
	// payload that is not a cosign simple-signing document, too many layers).
	ErrMalformed = errors.New("malformed signature")
)

// Key errors.
var (
	// ErrNoTrustedKeys: a key-based Verifier was built without keys. Verification with no
	// trusted key would refuse everything; callers must decide explicitly instead.
	ErrNoTrustedKeys = errors.New("no trusted keys")
	// ErrDecrypt: the private key could not be decrypted: wrong password or damaged file.
	ErrDecrypt = errors.New("cannot decrypt private key (wrong password or damaged key file)")
	// ErrKeyFormat: a key file is not in a supported PEM format or key type.
	ErrKeyFormat = errors.New("unsupported key format")
)
