package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/reconciler/store"
)

// TestStoreKeygenAndRekey: keygen makes one 0600 key per org and refuses to replace it;
// rekey rotates a key under a store that keeps serving the same bytes, and says so.
func TestStoreKeygenAndRekey(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	data := t.TempDir()
	out, err := run(t, "store", "keygen", "--org", "acme", "--org", "beta", "--keys", keys)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^(acme|beta): created .*\.agekey, public key age1[0-9a-z]{58}$`)
	if n := len(line.FindAllString(out, -1)); n != 2 {
		t.Fatalf("keygen printed %q; want a line per org with its public key", out)
	}
	for _, org := range []string{"acme", "beta"} {
		if fi, err := os.Stat(filepath.Join(keys, org+".agekey")); err != nil || fi.Mode().Perm() != 0o400 {
			t.Fatalf("%s key: %v, %v; want mode 0400", org, fi, err)
		}
	}
	if _, err := run(t, "store", "keygen", "--org", "acme", "--keys", keys); err == nil || !strings.Contains(err.Error(), "already exists") || exitCode(err) != 1 {
		t.Fatalf("keygen over an existing key: %v", err)
	}

	st, err := store.Open(data, store.WithKeyDir(keys))
	if err != nil {
		t.Fatal(err)
	}
	model := bytes.Repeat([]byte("pdm"), 50000)
	sum := sha256.Sum256(model)
	if _, err := st.Put(context.Background(), store.Record{Org: "acme", Version: "v1", ModelDigest: "sha256:" + hex.EncodeToString(sum[:])}, bytes.NewReader(model)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(keys, "acme.agekey"))
	out, err = run(t, "store", "rekey", "--org", "acme", "--data", data, "--keys", keys)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^acme: key rotated, 1 files re-encrypted, public key age1[0-9a-z]{58}\n$`).MatchString(out) {
		t.Fatalf("rekey printed %q", out)
	}
	after, _ := os.ReadFile(filepath.Join(keys, "acme.agekey"))
	if bytes.Equal(before, after) {
		t.Fatal("rekey left the key file as it was")
	}
	if got, _, err := st.ReadModel("acme", "v1"); err != nil || !bytes.Equal(got, model) {
		t.Fatalf("ReadModel after rekey: %v", err)
	}
	_, err = run(t, "store", "rekey", "--org", "gamma", "--data", data, "--keys", keys)
	if !errors.Is(err, store.ErrKeyUnavailable) || !strings.Contains(err.Error(), filepath.Join(keys, "gamma.agekey")) {
		t.Fatalf("rekey of an org without a key: %v", err)
	}
	if _, err := run(t, "store", "rekey", "--org", "acme", "--data", filepath.Join(data, "nope"), "--keys", keys); err == nil || !strings.Contains(err.Error(), "not a Talon data directory") {
		t.Fatalf("rekey of a missing data dir: %v", err)
	}
}

func TestStoreUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"store", "keygen", "--keys", "k"},
		{"store", "keygen", "--org", "acme"},
		{"store", "rekey", "--org", "acme", "--keys", "k"},
		{"store", "rekey", "--org", "acme", "--data", "d"},
		{"store", "rekey", "--data", "d", "--keys", "k", "extra"},
	} {
		if _, err := run(t, args...); exitCode(err) != 2 {
			t.Errorf("talon %s: %v (exit %d), want a usage error (exit 2)", strings.Join(args, " "), err, exitCode(err))
		}
	}
}
