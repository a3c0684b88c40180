// Package cosign signs OCI artifacts and verifies their signatures the way cosign v2 does
// with a key (`cosign sign --key`, `cosign verify --key`), so that Talon and the real cosign
// CLI accept each other's keys and signatures. It uses go-containerregistry and
// github.com/sigstore/sigstore, not the cosign Go module.
//
// # Format
//
// A signature of the artifact repo@sha256:<hex> lives in the same repository under the tag
// "sha256-<hex>.sig": an OCI image manifest whose layers are simple-signing payloads
// (media type application/vnd.dev.cosign.simplesigning.v1+json), each
//
//	{"critical":{"identity":{"docker-reference":REPO},"image":{"docker-manifest-digest":DIGEST},
//	 "type":"cosign container image signature"},"optional":null}
//
// with the base64 signature of the payload bytes in the layer annotation
// dev.cosignproject.cosign/signature. Signing appends a layer; it never drops one.
//
// Keys are ECDSA P-256 (GenerateKeyPair), the private key in cosign's encrypted PEM format
// ("ENCRYPTED SIGSTORE PRIVATE KEY", scrypt + NaCl secretbox; the older "ENCRYPTED COSIGN
// PRIVATE KEY" loads too), the public key as a PKIX "PUBLIC KEY" PEM block. Signatures use
// SHA-256, as `cosign verify --key` expects.
//
// # Fetching is separate from verifying
//
// Fetch (network, ctx) reads the signature manifest and its payloads, every byte checked
// against its digest. Verify is pure and offline: it takes the fetched SignatureSet, the
// digest being verified (a mandatory argument: only payloads naming exactly that digest
// count), and a Verifier holding the trust material — for key-based verification the
// org's trusted public keys and nothing else, so a signature by another org's key is
// ErrUntrusted. Verify fails closed with a distinct error for each reason (errors.go);
// allowing unsigned artifacts is a policy decision for the caller, never made here.
//
// # Keyless verification (not implemented)
//
// Keyless (Fulcio certificate + Rekor transparency log) signatures carry their trust
// evidence in the same layers: the signing certificate and chain in the annotations
// dev.sigstore.cosign/certificate and dev.sigstore.cosign/chain, and the Rekor inclusion
// promise in dev.sigstore.cosign/bundle. The plan is a second Verifier implementation,
// constructed from (1) a trusted root — Fulcio CA certificates, Rekor and CT log public
// keys — that the daemon fetches and refreshes over the network through Sigstore's TUF
// repository (the only network step, outside this package, like Fetch), and (2) the
// identities the org trusts (OIDC issuer plus subject, exact or by pattern), taken from the
// org's file the way trusted keys are today. Its VerifySignature would, offline: check the
// certificate chain to a Fulcio root at the Rekor integrated time, check the identity
// extensions, verify the payload signature with the certificate's key, and verify the
// bundle's signed entry timestamp with the Rekor key and that the entry matches the
// payload and signature. Signature exposes Annotations so that needs no change to Fetch
// or Verify.
package cosign
