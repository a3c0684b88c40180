//go:build interop

package interop_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
)

var ctx = context.Background()

// --- Talon's side, through the same library calls the CLI and the reconciler make ---

func push(t *testing.T, c *registry.Client, ref, model string) name.Digest {
	t.Helper()
	d, err := c.Push(ctx, ref, registry.PushInput{ModelPath: model})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// talonKeygen writes dir/prefix.key and .pub as `talon keygen` does.
func talonKeygen(t *testing.T, e *env, dir, prefix string) (keyPath, pubPath string) {
	t.Helper()
	priv, pub, err := cosign.GenerateKeyPair([]byte(e.password))
	if err != nil {
		t.Fatal(err)
	}
	keyPath, pubPath = filepath.Join(dir, prefix+".key"), filepath.Join(dir, prefix+".pub")
	if err := os.WriteFile(keyPath, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return keyPath, pubPath
}

func talonSign(t *testing.T, e *env, c *registry.Client, d name.Digest, keyPath string) {
	t.Helper()
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cosign.LoadPrivateKey(keyPath, data, []byte(e.password))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cosign.Sign(ctx, c, d, s); err != nil {
		t.Fatal(err)
	}
}

// talonVerify is the reconciler's verification step: fetch the signatures of d, verify
// them offline against the trusted public keys.
func talonVerify(t *testing.T, c *registry.Client, d name.Digest, opts cosign.Options, pubPaths ...string) (*cosign.Result, error) {
	t.Helper()
	var keys []*cosign.PublicKey
	for _, p := range pubPaths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		k, err := cosign.ParsePublicKey(filepath.Base(p), data)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	v, err := cosign.NewKeyVerifier(keys...)
	if err != nil {
		t.Fatal(err)
	}
	set, err := cosign.Fetch(ctx, c, d)
	if err != nil {
		return nil, err
	}
	return cosign.Verify(set, d, v, opts)
}

// pullModel is the reconciler's pull step: fetch d and read its model, verified.
func pullModel(t *testing.T, c *registry.Client, d name.Digest) (*registry.Artifact, []byte, error) {
	t.Helper()
	a, err := c.Fetch(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	rc, err := a.OpenModel(ctx)
	if err != nil {
		return a, nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return a, b, err
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- cosign's side ---

func cosignKeygen(t *testing.T, e *env, dir, prefix string) (keyPath, pubPath string) {
	t.Helper()
	e.must(t, dir, "cosign", "generate-key-pair", "--output-key-prefix", prefix)
	return filepath.Join(dir, prefix+".key"), filepath.Join(dir, prefix+".pub")
}

func cosignSign(t *testing.T, e *env, keyPath string, ref string) {
	t.Helper()
	e.must(t, filepath.Dir(keyPath), "cosign", "sign", "--key", keyPath, "--tlog-upload=false", "--yes",
		"--allow-insecure-registry", "--allow-http-registry", ref)
}

func cosignVerify(t *testing.T, e *env, pubPath string, ref string) (string, error) {
	t.Helper()
	return e.run(t, filepath.Dir(pubPath), "cosign", "verify", "--key", pubPath, "--insecure-ignore-tlog=true",
		"--allow-insecure-registry", "--allow-http-registry", ref)
}

func flipFirstByte(b []byte) []byte {
	b[0] ^= 0xff
	return b
}

func mustDigest(t *testing.T, s string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustSigTag(t *testing.T, d name.Digest) name.Tag {
	t.Helper()
	tag, err := cosign.SignatureTag(d)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
