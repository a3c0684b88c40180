package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"
)

func TestOpenNeedsAnExplicitChoice(t *testing.T) {
	keys := t.TempDir()
	open := t.TempDir()
	worldWritable := t.TempDir()
	if err := os.Chmod(worldWritable, 0o777); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	cases := []struct {
		name    string
		opts    []Option
		want    string
		keyErr  bool
		succeed bool
	}{
		{"no option", nil, "no key directory: pass WithKeyDir", false, false},
		{"both", []Option{WithKeyDir(keys), WithoutEncryptionUnsafe()}, "conflict", false, false},
		{"empty key dir", []Option{WithKeyDir("")}, "empty key directory", false, false},
		{"missing key dir", []Option{WithKeyDir(filepath.Join(keys, "nope"))}, "does not exist", true, false},
		{"key dir is a file", []Option{WithKeyDir(notDir)}, "is not a directory", true, false},
		{"world-writable key dir", []Option{WithKeyDir(worldWritable)}, "writable by anyone (mode 0777)", true, false},
		{"key dir", []Option{WithKeyDir(keys)}, "", false, true},
		{"unsafe plaintext", []Option{WithoutEncryptionUnsafe()}, "", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(open, c.opts...)
			if c.succeed {
				if err != nil {
					t.Fatal(err)
				}
				if want := c.name == "key dir"; s.Encrypted() != want {
					t.Fatalf("Encrypted() = %v, want %v", s.Encrypted(), want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrKeyUnavailable) != c.keyErr {
				t.Fatalf("Open: %v; want an error containing %q (ErrKeyUnavailable: %v)", err, c.want, c.keyErr)
			}
		})
	}
}

// TestKeyFailsClosedPerOrg: each way acme's key can be unusable makes acme's writes and
// reads fail with ErrKeyUnavailable, naming the key file and the reason and holding no
// key material, while beta goes on.
func TestKeyFailsClosedPerOrg(t *testing.T) {
	type setup func(t *testing.T, path string)
	chmod := func(mode os.FileMode) setup {
		return func(t *testing.T, path string) {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	write := func(text string) setup {
		return func(t *testing.T, path string) {
			overwrite(t, path, []byte(text))
		}
	}
	// A real secret key with its last character changed: a bad checksum.
	badSecret := func() string {
		id, _ := age.GenerateX25519Identity()
		s := id.String()
		last := byte('q')
		if s[len(s)-1] == 'q' {
			last = 'p'
		}
		return s[:len(s)-1] + string(last)
	}()
	cases := []struct {
		name  string
		setup setup
		want  string
	}{
		{"missing", func(t *testing.T, path string) { os.Remove(path) }, "does not exist; the org fails closed"},
		{"group-readable", chmod(0o640), "has mode 0640; want 0600 or stricter"},
		{"world-readable", chmod(0o644), "has mode 0644"},
		{"group-writable", chmod(0o620), "has mode 0620"},
		{"bad checksum", write("# comment\n" + badSecret + "\n"), "line 2 is not an age secret key"},
		{"not a key", write("hello\n"), "line 1 is not an age secret key"},
		{"empty", write(""), "holds no age identity"},
		{"a directory", func(t *testing.T, path string) { os.Remove(path); os.Mkdir(path, 0o700) }, "is not a regular file"},
		{"a fifo", func(t *testing.T, path string) {
			os.Remove(path)
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is not a regular file"},
		{"too large", write(strings.Repeat("#", maxKeyFile+1)), "is larger than"},
	}
	if os.Geteuid() == 0 {
		// Only root can give a file away; as another user the case cannot be built.
		cases = append(cases, struct {
			name  string
			setup setup
			want  string
		}{"owned by another user", func(t *testing.T, path string) {
			if err := os.Chown(path, 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}, "is owned by uid 4242"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, keyDir := newStore(t, true, "acme", "beta")
			data := randomBytes(30, 10<<10)
			mustPut(t, s, "acme", "v1", data)
			mustPut(t, s, "beta", "v1", data)
			path := filepath.Join(keyDir, "acme"+KeyExt)
			c.setup(t, path)
			_, putErr := s.Put(context.Background(), Record{Org: "acme", Version: "v2"}, bytes.NewReader(data))
			_, _, readErr := s.ReadModel("acme", "v1")
			for what, err := range map[string]error{"Put": putErr, "ReadModel": readErr, "CheckKey": s.CheckKey("acme")} {
				var ke *KeyError
				if !errors.Is(err, ErrKeyUnavailable) || !errors.As(err, &ke) || ke.Org != "acme" {
					t.Fatalf("%s: %v; want a *KeyError for acme", what, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, path) || !strings.Contains(msg, c.want) {
					t.Errorf("%s: %q; want it to name %s and say %q", what, msg, path, c.want)
				}
				if strings.Contains(msg, "AGE-SECRET-KEY") || strings.Contains(msg, badSecret[16:30]) {
					t.Errorf("%s: error holds key material: %q", what, msg)
				}
			}
			if _, err := s.Lookup("acme", "v2"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Put stored acme/v2 without a usable key: %v", err)
			}
			mustPut(t, s, "beta", "v2", data)
			if got, _, err := s.ReadModel("beta", "v1"); err != nil || !bytes.Equal(got, data) {
				t.Errorf("beta is affected: %v", err)
			}
		})
	}
}

// TestKeyFileForms: a key file reached through a symlink (as Kubernetes mounts Secrets)
// works; a replaced key makes old versions ErrCorrupt (not a key error) and new ones work.
func TestKeyFileForms(t *testing.T) {
	s, keyDir := newStore(t, true, "acme")
	data := randomBytes(31, 10<<10)
	mustPut(t, s, "acme", "v1", data)
	path := filepath.Join(keyDir, "acme"+KeyExt)
	real := filepath.Join(keyDir, "..data-acme")
	if err := os.Rename(path, real); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.ReadModel("acme", "v1"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadModel through a symlinked key: %v", err)
	}
	os.Remove(path)
	if _, err := GenerateKey(keyDir, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReadModel("acme", "v1"); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrKeyUnavailable) || !strings.Contains(err.Error(), "key file was replaced") {
		t.Fatalf("ReadModel with a replaced key: %v; want ErrCorrupt", err)
	}
	mustPut(t, s, "acme", "v1", data)
	if got, _, err := s.ReadModel("acme", "v1"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadModel after pulling again with the new key: %v", err)
	}
}

func TestGenerateKey(t *testing.T) {
	keyDir := filepath.Join(t.TempDir(), "keys")
	rcpt, err := GenerateKey(keyDir, "acme")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(keyDir, "acme"+KeyExt)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o400 {
		t.Fatalf("key file %v, %v; want mode 0400", fi, err)
	}
	if di, err := os.Stat(keyDir); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("key dir %v, %v; want mode 0700", di, err)
	}
	text, _ := os.ReadFile(path)
	ids, err := age.ParseIdentities(bytes.NewReader(text))
	if err != nil || len(ids) != 1 || ids[0].(*age.X25519Identity).Recipient().String() != rcpt {
		t.Fatalf("key file does not hold the identity of %s: %v", rcpt, err)
	}
	if !bytes.Contains(text, []byte("# public key: "+rcpt+"\n")) {
		t.Fatalf("key file lacks age-keygen's public key comment:\n%s", bytes.ReplaceAll(text, []byte("AGE-SECRET"), []byte("…")))
	}
	if _, err := GenerateKey(keyDir, "acme"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second GenerateKey: %v; want a refusal", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, text) {
		t.Fatal("second GenerateKey changed the key file")
	}
	if _, err := GenerateKey(keyDir, "../evil"); err == nil {
		t.Fatal("GenerateKey accepted an org name with a path")
	}
	entries, _ := os.ReadDir(keyDir)
	if len(entries) != 1 {
		t.Fatalf("key dir holds %d entries, want only acme.agekey", len(entries))
	}
}
