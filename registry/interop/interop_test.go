//go:build interop

package interop_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
)

const modelV1, modelV2 = "../../testdata/pdm/pdm-v1.onnx", "../../testdata/pdm/pdm-v2.onnx"

// TestCosignSignsTalonVerifies: `cosign sign --key` on an artifact Talon pushed; Talon's
// verifier accepts it with cosign's public key only, and pulls the artifact.
func TestCosignSignsTalonVerifies(t *testing.T) {
	reg, e, dir := startRegistry(t), newEnv(t), t.TempDir()
	c := newClient(t)
	d := push(t, c, reg.host+"/acme/pdm:v1", modelV1)
	cosKey, cosPub := cosignKeygen(t, e, dir, "cosign")
	_, otherPub := talonKeygen(t, e, dir, "other")

	if _, err := talonVerify(t, c, d, cosign.Options{}, cosPub); !errors.Is(err, cosign.ErrUnsigned) {
		t.Fatalf("before cosign sign: %v, want ErrUnsigned", err)
	}
	cosignSign(t, e, cosKey, d.String())
	res, err := talonVerify(t, c, d, cosign.Options{}, otherPub, cosPub)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Signer, "cosign.pub (sha256:") || res.Claim.Repository != d.Context().Name() {
		t.Fatalf("Result = %+v", res)
	}
	if _, err := talonVerify(t, c, d, cosign.Options{}, otherPub); !errors.Is(err, cosign.ErrUntrusted) {
		t.Fatalf("with an untrusted key only: %v, want ErrUntrusted", err)
	}
	a, model, err := pullModel(t, c, d)
	if err != nil || a.Format != registry.FormatModelPack || !bytes.Equal(model, readFile(t, modelV1)) {
		t.Fatalf("pull after verification: format %v, %d bytes, %v", a.Format, len(model), err)
	}
}

// TestTalonSignsCosignVerifies: `talon sign` → `cosign verify --key` passes; with a key
// that did not sign, cosign refuses (so the pass means something).
func TestTalonSignsCosignVerifies(t *testing.T) {
	reg, e, dir := startRegistry(t), newEnv(t), t.TempDir()
	c := newClient(t)
	d := push(t, c, reg.host+"/acme/pdm:v1", modelV1)
	key, pub := talonKeygen(t, e, dir, "talon")
	_, otherPub := talonKeygen(t, e, dir, "other")
	talonSign(t, e, c, d, key)

	out, err := cosignVerify(t, e, pub, d.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"docker-manifest-digest":"`+d.DigestStr()+`"`) {
		t.Fatalf("cosign verify printed %s", out)
	}
	if _, err := cosignVerify(t, e, otherPub, d.String()); err == nil {
		t.Fatal("cosign verify with a key that did not sign passed")
	}
}

// TestKeysInteroperate: a key from `cosign generate-key-pair` signs and verifies in Talon
// (and cosign accepts that signature); a key from `talon keygen` signs in cosign (and Talon
// accepts that signature). Both signatures end up in one manifest, appended.
func TestKeysInteroperate(t *testing.T) {
	reg, e, dir := startRegistry(t), newEnv(t), t.TempDir()
	c := newClient(t)
	d := push(t, c, reg.host+"/acme/pdm:v1", modelV1)
	cosKey, cosPub := cosignKeygen(t, e, dir, "cosign")
	talKey, talPub := talonKeygen(t, e, dir, "talon")

	talonSign(t, e, c, d, cosKey) // cosign's key, Talon's signing code
	if _, err := talonVerify(t, c, d, cosign.Options{}, cosPub); err != nil {
		t.Fatalf("Talon verifying its signature with cosign's key: %v", err)
	}
	if _, err := cosignVerify(t, e, cosPub, d.String()); err != nil {
		t.Fatalf("cosign verifying Talon's signature with cosign's key: %v", err)
	}
	cosignSign(t, e, talKey, d.String()) // Talon's key, cosign's signing code
	if _, err := talonVerify(t, c, d, cosign.Options{}, talPub); err != nil {
		t.Fatalf("Talon verifying cosign's signature with Talon's key: %v", err)
	}
	if _, err := cosignVerify(t, e, talPub, d.String()); err != nil {
		t.Fatal(err)
	}
	set, err := cosign.Fetch(ctx, c, d)
	if err != nil || len(set.Signatures) != 2 {
		t.Fatalf("signature manifest after both signed: %v, %+v", err, set)
	}
}

// TestORASPushSignedByCosign: a plain `oras push` of one .onnx file, signed with cosign, is
// verified by Talon and classified as an ORAS artifact whose model Talon pulls.
func TestORASPushSignedByCosign(t *testing.T) {
	reg, e, dir := startRegistry(t), newEnv(t), t.TempDir()
	c := newClient(t)
	if err := os.WriteFile(filepath.Join(dir, "pdm.onnx"), readFile(t, modelV2), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := reg.host + "/oras/pdm:v2"
	e.must(t, dir, "oras", "push", "--plain-http", ref, "pdm.onnx")
	d, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	key, pub := cosignKeygen(t, e, dir, "cosign")
	cosignSign(t, e, key, d.String())
	if _, err := talonVerify(t, c, d, cosign.Options{}, pub); err != nil {
		t.Fatal(err)
	}
	a, model, err := pullModel(t, c, d)
	if err != nil || a.Format != registry.FormatORAS || a.Model.Filename != "pdm.onnx" || !bytes.Equal(model, readFile(t, modelV2)) {
		t.Fatalf("ORAS artifact: %+v, %d bytes, %v", a, len(model), err)
	}
}

// TestCopiesKeepSignatures: `skopeo copy` and `crane copy` of an artifact and its .sig tag
// to another repository still verify there (naming the origin repository, since the
// payload's docker-reference does); copying only the artifact is refused as unsigned.
func TestCopiesKeepSignatures(t *testing.T) {
	reg, e, dir := startRegistry(t), newEnv(t), t.TempDir()
	c := newClient(t)
	d := push(t, c, reg.host+"/acme/pdm:v1", modelV1)
	key, pub := talonKeygen(t, e, dir, "ci")
	talonSign(t, e, c, d, key)
	sigTag, err := cosign.SignatureTag(d)
	if err != nil {
		t.Fatal(err)
	}
	origin := d.Context().Name()
	copiers := map[string]func(src, dst string){
		"skopeo": func(src, dst string) {
			e.must(t, dir, "skopeo", "copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
				"docker://"+src, "docker://"+dst)
		},
		"crane": func(src, dst string) { e.must(t, dir, "crane", "copy", "--insecure", src, dst) },
	}
	for _, tool := range []string{"skopeo", "crane"} {
		t.Run(tool, func(t *testing.T) {
			cp := copiers[tool]
			mirror := reg.host + "/mirror-" + tool + "/pdm"
			cp(d.String(), mirror+":v1")
			cp(sigTag.String(), mirror+":"+sigTag.TagStr())
			md := mustDigest(t, mirror+"@"+d.DigestStr())

			if _, err := talonVerify(t, c, md, cosign.Options{}, pub); !errors.Is(err, cosign.ErrReferenceMismatch) {
				t.Fatalf("copy verified strictly: %v, want ErrReferenceMismatch (the payload names %s)", err, origin)
			}
			res, err := talonVerify(t, c, md, cosign.Options{SignedRepositories: []string{origin}}, pub)
			if err != nil || res.Claim.Repository != origin {
				t.Fatalf("copy with its origin accepted: %+v, %v", res, err)
			}
			if _, err := cosignVerify(t, e, pub, md.String()); err != nil {
				t.Fatalf("cosign verify of the copy: %v", err)
			}
			if _, model, err := pullModel(t, c, md); err != nil || !bytes.Equal(model, readFile(t, modelV1)) {
				t.Fatalf("pull from the copy: %d bytes, %v", len(model), err)
			}

			bare := reg.host + "/bare-" + tool + "/pdm"
			cp(d.String(), bare+":v1")
			if _, err := talonVerify(t, c, mustDigest(t, bare+"@"+d.DigestStr()), cosign.Options{SignedRepositories: []string{origin}}, pub); !errors.Is(err, cosign.ErrUnsigned) {
				t.Fatalf("artifact copied without its signature: %v, want ErrUnsigned", err)
			}
		})
	}
}

// TestTagMovedBetweenResolveAndVerify: the tag is read once; when it moves to another digest
// afterwards, verification and pull stay on the resolved digest, and a signature manifest
// of one digest moved onto the other's .sig tag is refused both ways (by Talon and cosign).
func TestTagMovedBetweenResolveAndVerify(t *testing.T) {
	reg, e, dir := startRegistry(t), newEnv(t), t.TempDir()
	c := newClient(t)
	key, pub := talonKeygen(t, e, dir, "ci")
	ref := reg.host + "/acme/pdm:prod"
	d1 := push(t, c, ref, modelV1)
	talonSign(t, e, c, d1, key)

	resolved, err := c.Resolve(ctx, ref)
	if err != nil || resolved != d1 {
		t.Fatalf("Resolve = %v, %v", resolved, err)
	}
	d2 := push(t, c, ref, modelV2) // the tag moves, to an unsigned digest
	if _, err := talonVerify(t, c, resolved, cosign.Options{}, pub); err != nil {
		t.Fatalf("verifying the resolved digest after the tag moved: %v", err)
	}
	if _, model, err := pullModel(t, c, resolved); err != nil || !bytes.Equal(model, readFile(t, modelV1)) {
		t.Fatalf("pull of the resolved digest gave %d bytes (%v), want v1's", len(model), err)
	}
	if again, _ := c.Resolve(ctx, ref); again != d2 {
		t.Fatalf("tag now resolves to %v, want %v", again, d2)
	}
	if _, err := talonVerify(t, c, d2, cosign.Options{}, pub); !errors.Is(err, cosign.ErrUnsigned) {
		t.Fatalf("new digest: %v, want ErrUnsigned", err)
	}

	talonSign(t, e, c, d2, key)
	sig1, sig2 := mustSigTag(t, d1), mustSigTag(t, d2)
	saved := reg.host + "/acme/pdm:saved-sig1"
	e.must(t, dir, "crane", "copy", "--insecure", sig1.String(), saved)
	e.must(t, dir, "crane", "copy", "--insecure", sig2.String(), sig1.String()) // d2's signatures on d1's tag
	e.must(t, dir, "crane", "copy", "--insecure", saved, sig2.String())         // d1's signatures on d2's tag
	for _, d := range []name.Digest{d1, d2} {
		if _, err := talonVerify(t, c, d, cosign.Options{}, pub); !errors.Is(err, cosign.ErrPayloadDigest) {
			t.Fatalf("%s with the other digest's signatures: %v, want ErrPayloadDigest", d.DigestStr(), err)
		}
		if _, err := cosignVerify(t, e, pub, d.String()); err == nil {
			t.Fatalf("cosign accepted %s with the other digest's signatures", d.DigestStr())
		}
	}
}

// TestBlobReplacedOnDisk: bytes changed in the registry's storage directory are refused
// with a digest mismatch — the model layer at pull, the signature payload at fetch, the
// manifest at fetch — although the registry serves them without complaint.
func TestBlobReplacedOnDisk(t *testing.T) {
	reg, e, dir := startRegistry(t), newEnv(t), t.TempDir()
	c := newClient(t)
	key, pub := talonKeygen(t, e, dir, "ci")
	d := push(t, c, reg.host+"/acme/pdm:v1", modelV1)
	talonSign(t, e, c, d, key)
	a, _, err := pullModel(t, c, d)
	if err != nil {
		t.Fatal(err)
	}
	set, err := cosign.Fetch(ctx, c, d)
	if err != nil {
		t.Fatal(err)
	}

	reg.replaceBlob(t, a.Model.Digest, flipFirstByte)
	if _, err := talonVerify(t, c, d, cosign.Options{}, pub); err != nil {
		t.Fatalf("the signature (over the manifest) is intact: %v", err)
	}
	if _, _, err := pullModel(t, c, d); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("pull with the model blob replaced on disk: %v, want ErrDigestMismatch", err)
	}

	reg.replaceBlob(t, set.Signatures[0].Layer, func(b []byte) []byte { // same length, still JSON
		return bytes.Replace(b, []byte(d.DigestStr()[len(d.DigestStr())-4:]), []byte("0000"), 1)
	})
	if _, err := talonVerify(t, c, d, cosign.Options{}, pub); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("signature payload replaced on disk: %v, want ErrDigestMismatch", err)
	}

	md, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	reg.replaceBlob(t, md, func(b []byte) []byte { // same length, still a manifest
		return bytes.Replace(b, []byte(`"v1"`), []byte(`"v9"`), 1)
	})
	if _, err := c.Fetch(ctx, d); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("manifest replaced on disk: %v, want ErrDigestMismatch", err)
	}
}
