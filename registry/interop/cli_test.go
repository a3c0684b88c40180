//go:build interop

package interop_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildTalon builds the talon binary for this test.
func buildTalon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "talon")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/talon").CombinedOutput()
	if err != nil {
		t.Fatalf("go build talon: %v\n%s", err, out)
	}
	return bin
}

// exitStatus is the exit code of a failed command run by env.run (0 when err is nil).
func exitStatus(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if !errors.As(err, &ee) {
		t.Fatalf("not an exit status: %v", err)
	}
	return ee.ExitCode()
}

// TestTalonCLIWithCosign: the talon binary as a user runs it, with the cosign CLI beside
// it: talon keygen + talon push --sign-key → cosign verify; cosign generate-key-pair +
// cosign sign → talon verify (exit 0 naming the key; exit 1 for a key that did not sign or
// an unsigned artifact). The password reaches talon through COSIGN_PASSWORD alone.
func TestTalonCLIWithCosign(t *testing.T) {
	reg, e, dir := startRegistry(t), newEnv(t), t.TempDir()
	talon := buildTalon(t)
	e.must(t, dir, talon, "keygen", "--out", "ci")
	out := e.must(t, dir, talon, "push", "--sign-key", "ci.key", abs(t, modelV1), reg.host+"/acme/pdm:v1")
	digest := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if _, err := cosignVerify(t, e, filepath.Join(dir, "ci.pub"), digest); err != nil {
		t.Fatalf("cosign verify of talon push --sign-key: %v", err)
	}

	cosKey, _ := cosignKeygen(t, e, dir, "cosign")
	cosignSign(t, e, cosKey, digest)
	out = e.must(t, dir, talon, "verify", digest, "--key", "cosign.pub")
	if !strings.Contains(out, "signed by cosign.pub (sha256:") {
		t.Fatalf("talon verify printed %q", out)
	}
	e.must(t, dir, talon, "verify", reg.host+"/acme/pdm:v1", "--key", "ci.pub")

	e.must(t, dir, talon, "keygen", "--out", "stranger")
	_, err := e.run(t, dir, talon, "verify", digest, "--key", "stranger.pub")
	if exitStatus(t, err) != 1 || !strings.Contains(err.Error(), "no signature verifies with the trusted keys") {
		t.Fatalf("verify with a key that did not sign: %v", err)
	}
	e.must(t, dir, talon, "push", abs(t, modelV2), reg.host+"/acme/pdm:v2")
	_, err = e.run(t, dir, talon, "verify", reg.host+"/acme/pdm:v2", "--key", "ci.pub")
	if exitStatus(t, err) != 1 || !strings.Contains(err.Error(), "is not signed") {
		t.Fatalf("verify of an unsigned artifact: %v", err)
	}
	if _, err := e.run(t, dir, talon, "verify", digest); exitStatus(t, err) != 2 {
		t.Fatalf("verify without --key: %v, want exit 2", err)
	}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
