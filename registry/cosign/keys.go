package cosign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	sigsig "github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// PEM block types of cosign keys.
const (
	// PEMTypeEncryptedSigstore is the private key type cosign v2 and Talon write.
	PEMTypeEncryptedSigstore = "ENCRYPTED SIGSTORE PRIVATE KEY"
	// PEMTypeEncryptedCosign is the private key type of older cosign releases (read only).
	PEMTypeEncryptedCosign = "ENCRYPTED COSIGN PRIVATE KEY"
	// PEMTypePublicKey is the public key type (PKIX, "SubjectPublicKeyInfo").
	PEMTypePublicKey = "PUBLIC KEY"
)

// loadOptions are how cosign v2 loads keys: SHA-256 for signatures ("cosign verify --key"
// assumes it), Ed25519ph for Ed25519 keys.
func loadOptions() []sigsig.LoadOption {
	return []sigsig.LoadOption{options.WithHash(crypto.SHA256), options.WithED25519ph()}
}

// PublicKey is a trusted (or signing) public key with a name for messages and logs.
type PublicKey struct {
	// Name says where the key came from, such as its path in the config repository.
	Name string
	// Fingerprint is "sha256:<hex>" of the key's DER SubjectPublicKeyInfo.
	Fingerprint string
	key         crypto.PublicKey
	verifier    sigsig.Verifier
}

// String returns the name and a short fingerprint, e.g. "keys/ci.pub (sha256:3f2a…9c01)".
func (k *PublicKey) String() string {
	short := k.Fingerprint
	if len(short) > len("sha256:")+12 {
		short = short[:len("sha256:")+6] + "…" + short[len(short)-4:]
	}
	if k.Name == "" {
		return short
	}
	return fmt.Sprintf("%s (%s)", k.Name, short)
}

// Key returns the parsed key (*ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey).
func (k *PublicKey) Key() crypto.PublicKey { return k.key }

// ParsePublicKey parses a PEM "PUBLIC KEY" block (as written by `cosign generate-key-pair`
// and `talon keygen`): ECDSA P-256, P-384 or P-521, RSA of at least 2048 bits, or Ed25519.
// The data must hold exactly one PEM block. name is kept for messages.
func ParsePublicKey(name string, pemData []byte) (*PublicKey, error) {
	block, rest := pem.Decode(pemData)
	if block == nil {
		return nil, fmt.Errorf("public key %s: %w: no PEM block", name, ErrKeyFormat)
	}
	if block.Type != PEMTypePublicKey {
		return nil, fmt.Errorf("public key %s: %w: PEM type %q, want %q", name, ErrKeyFormat, block.Type, PEMTypePublicKey)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("public key %s: %w: more than one PEM block (one key per file)", name, ErrKeyFormat)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemData)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w: %v", name, ErrKeyFormat, err)
	}
	return NewPublicKey(name, pub)
}

// NewPublicKey wraps an already parsed key; see ParsePublicKey for the accepted types.
func NewPublicKey(name string, pub crypto.PublicKey) (*PublicKey, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if c := k.Curve; c != elliptic.P256() && c != elliptic.P384() && c != elliptic.P521() {
			return nil, fmt.Errorf("public key %s: %w: ECDSA curve %v", name, ErrKeyFormat, c.Params().Name)
		}
	case *rsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("public key %s: %w: %T", name, ErrKeyFormat, pub)
	}
	if err := cryptoutils.ValidatePubKey(pub); err != nil {
		return nil, fmt.Errorf("public key %s: %w: %v", name, ErrKeyFormat, err)
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w: %v", name, ErrKeyFormat, err)
	}
	v, err := sigsig.LoadVerifierWithOpts(pub, loadOptions()...)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w: %v", name, ErrKeyFormat, err)
	}
	sum := sha256.Sum256(der)
	return &PublicKey{Name: name, Fingerprint: "sha256:" + hex.EncodeToString(sum[:]), key: pub, verifier: v}, nil
}

// PEM returns the key as a PEM "PUBLIC KEY" block.
func (k *PublicKey) PEM() ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(k.key)
}

// verify reports whether sig is this key's signature of payload (SHA-256).
func (k *PublicKey) verify(sig, payload []byte) bool {
	return k.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)) == nil
}

// Signer signs payloads with a private key. Get one with LoadPrivateKey.
type Signer struct {
	sv  sigsig.SignerVerifier
	pub *PublicKey
}

// Public returns the signer's public key, named like the private key it was loaded from.
func (s *Signer) Public() *PublicKey { return s.pub }

// SignPayload signs payload (SHA-256) and returns the ASN.1 (ECDSA) or raw signature.
func (s *Signer) SignPayload(payload []byte) ([]byte, error) {
	sig, err := s.sv.SignMessage(bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", s.pub, err)
	}
	return sig, nil
}

// GenerateKeyPair makes a new ECDSA P-256 key pair: the private key encrypted with password
// in cosign's "ENCRYPTED SIGSTORE PRIVATE KEY" PEM format, the public key as PEM. An empty
// password is allowed (cosign allows it too) but protects nothing.
func GenerateKeyPair(password []byte) (privatePEM, publicPEM []byte, err error) {
	if password == nil {
		password = []byte{} // nil would make cryptoutils write the key unencrypted
	}
	privatePEM, publicPEM, err = cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		return nil, nil, fmt.Errorf("generate key pair: %w", err)
	}
	if b, _ := pem.Decode(privatePEM); b == nil || b.Type != PEMTypeEncryptedSigstore {
		return nil, nil, fmt.Errorf("generate key pair: private key was not encrypted")
	}
	return privatePEM, publicPEM, nil
}

// LoadPrivateKey decrypts a cosign private key ("ENCRYPTED SIGSTORE PRIVATE KEY" or the
// older "ENCRYPTED COSIGN PRIVATE KEY") with password. Unencrypted keys are refused, as
// cosign refuses them. A wrong password is ErrDecrypt. name is kept for messages.
func LoadPrivateKey(name string, pemData, password []byte) (*Signer, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, fmt.Errorf("private key %s: %w: no PEM block", name, ErrKeyFormat)
	}
	if block.Type != PEMTypeEncryptedSigstore && block.Type != PEMTypeEncryptedCosign {
		return nil, fmt.Errorf("private key %s: %w: PEM type %q, want %q (cosign generate-key-pair or talon keygen)",
			name, ErrKeyFormat, block.Type, PEMTypeEncryptedSigstore)
	}
	if password == nil {
		password = []byte{}
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(pemData, cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", name, ErrDecrypt)
	}
	sv, err := sigsig.LoadSignerVerifierWithOpts(priv, loadOptions()...)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w: %v", name, ErrKeyFormat, err)
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w: %v", name, ErrKeyFormat, err)
	}
	pk, err := NewPublicKey(name, pub)
	if err != nil {
		return nil, err
	}
	return &Signer{sv: sv, pub: pk}, nil
}
