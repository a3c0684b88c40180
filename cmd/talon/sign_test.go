package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/registry/cosign"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// TestKeygenSignVerify: the CLI contract of keygen, push --sign-key, sign and verify,
// including exit codes (0 verified, 1 not, 2 usage).
func TestKeygenSignVerify(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "not this one") // TALON_PASSWORD wins
	t.Setenv("TALON_PASSWORD", "s3cret")
	dir := t.TempDir()
	acme, globex := filepath.Join(dir, "acme"), filepath.Join(dir, "globex")
	for _, p := range []string{acme, globex} {
		if _, err := run(t, "keygen", "--out", p); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(acme + ".key")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("acme.key: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	if _, err := run(t, "keygen", "--out", acme); err == nil || exitCode(err) != 1 {
		t.Fatalf("keygen over an existing key: %v, want exit 1", err)
	}

	host := registrytest.Start(t)
	out, err := run(t, "push", "../../testdata/pdm/pdm-v1.onnx", host+"/acme/pdm:v1", "--sign-key", acme+".key")
	if err != nil {
		t.Fatal(err)
	}
	digest := lastLine(out)
	if _, err := run(t, "push", "../../testdata/pdm/pdm-v2.onnx", host+"/acme/pdm:v2"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		exit int
		want error
	}{
		{"pushed and signed, by tag", []string{"verify", host + "/acme/pdm:v1", "--key", acme + ".pub"}, 0, nil},
		{"by digest, two keys", []string{"verify", digest, "--key", globex + ".pub", "--key", acme + ".pub"}, 0, nil},
		{"another org's key", []string{"verify", digest, "--key", globex + ".pub"}, 1, cosign.ErrUntrusted},
		{"unsigned", []string{"verify", host + "/acme/pdm:v2", "--key", acme + ".pub"}, 1, cosign.ErrUnsigned},
		{"no key", []string{"verify", digest}, 2, nil},
		{"private key given as trusted key", []string{"verify", digest, "--key", acme + ".key"}, 2, cosign.ErrKeyFormat},
		{"missing key file", []string{"verify", digest, "--key", filepath.Join(dir, "nope.pub")}, 2, nil},
		{"sign without key", []string{"sign", digest}, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.args...)
			if exitCode(err) != tc.exit && !(err == nil && tc.exit == 0) {
				t.Fatalf("talon %s: %v (exit %d), want exit %d", strings.Join(tc.args, " "), err, exitCode(err), tc.exit)
			}
			if tc.want != nil && !errors.Is(cause(err), tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if tc.exit == 0 && !strings.Contains(out, "signed by "+acme+".pub (sha256:") {
				t.Fatalf("stdout %q does not name the verifying key", out)
			}
		})
	}

	// sign appends globex's signature; then both keys verify, and signing again is a no-op.
	if out, err := run(t, "sign", host+"/acme/pdm:v1", "--key", globex+".key"); err != nil || lastLine(out) != digest {
		t.Fatalf("sign: %q, %v", out, err)
	}
	if _, err := run(t, "verify", digest, "--key", globex+".pub"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "verify", digest, "--key", acme+".pub"); err != nil {
		t.Fatalf("acme's signature was dropped by appending globex's: %v", err)
	}
	t.Setenv("TALON_PASSWORD", "wrong")
	if _, err := run(t, "sign", digest, "--key", acme+".key"); exitCode(err) != 2 || !errors.Is(cause(err), cosign.ErrDecrypt) {
		t.Fatalf("sign with a wrong password: %v (exit %d), want ErrDecrypt, exit 2", err, exitCode(err))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// cause unwraps a usageError (which has no Unwrap method) so errors.Is can see its cause.
func cause(err error) error {
	if ue, ok := err.(usageError); ok {
		return ue.error
	}
	return err
}
