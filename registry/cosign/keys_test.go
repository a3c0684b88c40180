package cosign_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/registry/cosign"
)

func TestGenerateAndLoadKeyPair(t *testing.T) {
	priv, pub, err := cosign.GenerateKeyPair([]byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(priv); b == nil || b.Type != cosign.PEMTypeEncryptedSigstore {
		t.Fatalf("private key PEM type = %v, want %s", b, cosign.PEMTypeEncryptedSigstore)
	}
	if strings.Contains(string(priv), "PRIVATE KEY-----\nMI") {
		t.Fatal("private key looks like plain PKCS#8 DER")
	}
	s, err := cosign.LoadPrivateKey("ci.key", priv, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := cosign.ParsePublicKey("ci.pub", pub)
	if err != nil {
		t.Fatal(err)
	}
	if pk.Fingerprint != s.Public().Fingerprint {
		t.Fatalf("public key fingerprint %s, private key's %s", pk.Fingerprint, s.Public().Fingerprint)
	}
	ec, ok := pk.Key().(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("key is %T, want ECDSA P-256", pk.Key())
	}
	if !strings.HasPrefix(pk.String(), "ci.pub (sha256:") {
		t.Fatalf("String() = %q", pk.String())
	}
}

func TestLoadPrivateKeyErrors(t *testing.T) {
	priv, _, err := cosign.GenerateKeyPair([]byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(priv)
	olderType := pem.EncodeToMemory(&pem.Block{Type: cosign.PEMTypeEncryptedCosign, Bytes: block.Bytes})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	plain := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	damaged := append([]byte(nil), block.Bytes...)
	damaged[len(damaged)/2] ^= 1

	for _, tc := range []struct {
		name     string
		pem      []byte
		password string
		want     error
	}{
		{"older cosign PEM type", olderType, testPassword, nil},
		{"wrong password", priv, "hunter2", cosign.ErrDecrypt},
		{"empty password", priv, "", cosign.ErrDecrypt},
		{"damaged ciphertext", pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: damaged}), testPassword, cosign.ErrDecrypt},
		{"unencrypted key", plain, testPassword, cosign.ErrKeyFormat},
		{"not PEM", []byte("hello"), testPassword, cosign.ErrKeyFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cosign.LoadPrivateKey("k", tc.pem, []byte(tc.password))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("LoadPrivateKey: %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), tc.password) && tc.password != "" {
				t.Fatalf("error %q contains the password", err)
			}
		})
	}
}

func TestParsePublicKeyErrors(t *testing.T) {
	_, pub, err := cosign.GenerateKeyPair([]byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	der224, _ := x509.MarshalPKIXPublicKey(&p224.PublicKey)
	for _, tc := range []struct {
		name string
		pem  []byte
	}{
		{"two keys in one file", append(append([]byte(nil), pub...), pub...)},
		{"private key PEM type", []byte(strings.ReplaceAll(string(pub), "PUBLIC KEY", "PRIVATE KEY"))},
		{"P-224 curve", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der224})},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("nope")})},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := cosign.ParsePublicKey("k.pub", tc.pem); !errors.Is(err, cosign.ErrKeyFormat) {
				t.Fatalf("ParsePublicKey: %v, want ErrKeyFormat", err)
			}
		})
	}
	if _, err := cosign.NewKeyVerifier(); !errors.Is(err, cosign.ErrNoTrustedKeys) {
		t.Fatalf("NewKeyVerifier(): %v, want ErrNoTrustedKeys", err)
	}
}

// TestCosignMadeKeyFixture: a key pair written by `cosign generate-key-pair` (v2.6.5; see
// testdata/README.md) loads, and its private and public halves match.
func TestCosignMadeKeyFixture(t *testing.T) {
	priv, err := os.ReadFile("testdata/cosign.key")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile("testdata/cosign.pub")
	if err != nil {
		t.Fatal(err)
	}
	s, err := cosign.LoadPrivateKey("testdata/cosign.key", priv, []byte("talon-fixture"))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := cosign.ParsePublicKey("testdata/cosign.pub", pub)
	if err != nil {
		t.Fatal(err)
	}
	if pk.Fingerprint != s.Public().Fingerprint {
		t.Fatalf("fixture halves differ: %s vs %s", pk.Fingerprint, s.Public().Fingerprint)
	}
}

// TestCosignMadeSignatureFixture: a payload signature made by `cosign sign-blob` with the
// fixture key verifies with Talon's verifier, for that digest only, and not once altered.
func TestCosignMadeSignatureFixture(t *testing.T) {
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pk, err := cosign.ParsePublicKey("testdata/cosign.pub", read("testdata/cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(read("testdata/payload.json.sig"))))
	if err != nil {
		t.Fatal(err)
	}
	payload := read("testdata/payload.json")
	d := mustDigest(t, "127.0.0.1:5000/acme/pdm@sha256:"+strings.Repeat("0", 63)+"1")
	set := &cosign.SignatureSet{Digest: d, Signatures: []cosign.Signature{{Payload: payload, Signature: sig}}}
	v, err := cosign.NewKeyVerifier(pk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cosign.Verify(set, d, v, cosign.Options{}); err != nil {
		t.Fatalf("cosign's signature: %v", err)
	}
	other := d.Context().Digest("sha256:" + strings.Repeat("0", 63) + "2")
	if _, err := cosign.Verify(set, other, v, cosign.Options{}); !errors.Is(err, cosign.ErrPayloadDigest) {
		t.Fatalf("for another digest: %v, want ErrPayloadDigest", err)
	}
	set.Signatures[0].Payload = []byte(strings.Replace(string(payload), "acme", "acmf", 1))
	if _, err := cosign.Verify(set, d, v, cosign.Options{}); !errors.Is(err, cosign.ErrUntrusted) {
		t.Fatalf("altered payload: %v, want ErrUntrusted", err)
	}
}
