package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/eaglenotifier/talon/policy"
)

// KeyExt is the extension of an org's key file: <keydir>/<org>.agekey.
const KeyExt = ".agekey"

// maxKeyFile bounds the size of a key file.
const maxKeyFile = 64 << 10

// ErrKeyUnavailable means an org's key cannot be used: missing, unsafe permissions, or not
// an age identity file. The org fails closed; its stored files are intact. The error is a
// *KeyError naming the file and what to do; it never contains key material.
var ErrKeyUnavailable = errors.New("org key unavailable")

// KeyError says why an org's key (or the key directory) cannot be used.
type KeyError struct {
	Org    string // "" when the key directory itself is at fault
	Path   string
	Reason string
}

func (e *KeyError) Error() string {
	if e.Org == "" {
		return fmt.Sprintf("key directory %s %s", e.Path, e.Reason)
	}
	return fmt.Sprintf("org %s: key file %s %s", e.Org, e.Path, e.Reason)
}

// Is makes errors.Is(err, ErrKeyUnavailable) true.
func (e *KeyError) Is(target error) bool { return target == ErrKeyUnavailable }

// orgKeys is an org's parsed key file. Never print it.
type orgKeys struct {
	path      string
	ids       []age.Identity // ids[0] is the current key
	recipient age.Recipient  // of ids[0]
}

// checkKeyDir refuses a key directory others could write to (they could plant a key).
func checkKeyDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &KeyError{Path: dir, Reason: "does not exist; create keys with `talon store keygen --org ORG --keys DIR`"}
	case err != nil:
		return &KeyError{Path: dir, Reason: "cannot be read: " + errText(err)}
	case !fi.IsDir():
		return &KeyError{Path: dir, Reason: "is not a directory"}
	case fi.Mode().Perm()&0o002 != 0:
		return &KeyError{Path: dir, Reason: fmt.Sprintf("is writable by anyone (mode %#o); chmod o-w %s", fi.Mode().Perm(), dir)}
	}
	return nil
}

// keyPath returns <keydir>/<org>.agekey for a valid org name.
func (s *Store) keyPath(org string) (string, error) {
	if err := policy.ValidateOrgName(org); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return filepath.Join(s.keyDir, org+KeyExt), nil
}

// CheckKey reports whether org's key is present and safe to use (nil), or why not
// (a *KeyError, ErrKeyUnavailable). It is nil for an unencrypted store. Call it before a
// pull to fail closed early; Put, ReadModel, Deployed and Deploy check it too.
func (s *Store) CheckKey(org string) error {
	if !s.Encrypted() {
		return nil
	}
	_, err := s.loadKeys(org)
	return err
}

// loadKeys reads org's key file afresh (a rotation by another process takes effect at
// the next operation), after checking the directory and the file's type, mode and owner.
func (s *Store) loadKeys(org string) (*orgKeys, error) {
	path, err := s.keyPath(org)
	if err != nil {
		return nil, err
	}
	bad := func(reason string) error { return &KeyError{Org: org, Path: path, Reason: reason} }
	if err := checkKeyDir(s.keyDir); err != nil {
		return nil, bad("is unusable: " + err.Error())
	}
	// O_NONBLOCK: a FIFO planted as the key file must not hang the reconciler.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bad(fmt.Sprintf("does not exist; the org fails closed until it does (talon store keygen --org %s --keys %s)", org, s.keyDir))
	}
	if err != nil {
		return nil, bad("cannot be opened: " + errText(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, bad("cannot be read: " + errText(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, bad("is not a regular file")
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, bad(fmt.Sprintf("has mode %#o; want 0600 or stricter (chmod 600 %s)", perm, path))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return nil, bad(fmt.Sprintf("is owned by uid %d, not by this user (uid %d) or root", st.Uid, os.Geteuid()))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, bad("cannot be read: " + errText(err))
	}
	if len(data) > maxKeyFile {
		return nil, bad(fmt.Sprintf("is larger than %d bytes", maxKeyFile))
	}
	ids, err := parseIdentities(data)
	if err != nil {
		return nil, bad(err.Error())
	}
	k := &orgKeys{path: path, ids: ids}
	if k.recipient, err = recipientOf(ids[0]); err != nil {
		return nil, bad(err.Error())
	}
	return k, nil
}

// parseIdentities parses an age identity file line by line, so a bad line is reported by
// number without echoing anything from it (it may hold key material).
func parseIdentities(data []byte) ([]age.Identity, error) {
	var ids []age.Identity
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		got, err := age.ParseIdentities(strings.NewReader(line))
		if err != nil {
			return nil, fmt.Errorf("is not an age identity file: line %d is not an age secret key", n)
		}
		ids = append(ids, got...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("is not an age identity file: %v", err)
	}
	if len(ids) == 0 {
		return nil, errors.New("holds no age identity")
	}
	return ids, nil
}

func recipientOf(id age.Identity) (age.Recipient, error) {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient(), nil
	case *age.HybridIdentity:
		return id.Recipient(), nil
	}
	return nil, fmt.Errorf("holds an unsupported identity type %T first", id)
}

// keyFileText renders identities as an age identity file, the first being current. It
// is compatible with age-keygen's output and the age CLI's -i flag.
func keyFileText(note string, ids []age.Identity) ([]byte, error) {
	var b bytes.Buffer
	if note != "" {
		fmt.Fprintf(&b, "# %s\n", note)
	}
	fmt.Fprintf(&b, "# created: %s\n", time.Now().UTC().Format(time.RFC3339))
	for _, id := range ids {
		r, err := recipientOf(id)
		if err != nil {
			return nil, err
		}
		s, ok := id.(fmt.Stringer)
		if !ok {
			return nil, fmt.Errorf("identity type %T cannot be written", id)
		}
		fmt.Fprintf(&b, "# public key: %s\n%s\n", r, s.String())
	}
	return b.Bytes(), nil
}

// GenerateKey creates a new X25519 identity for org in keyDir/<org>.agekey (mode 0400,
// written durably; keyDir is created with mode 0700 when missing) and returns its public
// key. It refuses to replace an existing key file: rotate with Store.Rekey instead.
func GenerateKey(keyDir, org string) (recipient string, err error) {
	if err := policy.ValidateOrgName(org); err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	if err := checkKeyDir(keyDir); err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	path := filepath.Join(keyDir, org+KeyExt)
	if _, err := os.Lstat(path); err == nil {
		return "", fmt.Errorf("keygen: %s already exists; rotate it with `talon store rekey --org %s`", path, org)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	text, err := keyFileText("talon key of org "+org, []age.Identity{id})
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	if err := writeKeyFile(path, text, false); err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	return id.Recipient().String(), nil
}

// writeKeyFile writes text durably to path with mode 0400: temp file, fsync, then rename
// over path (replace) or hard-link to path, failing if it exists (!replace); fsync the dir.
func writeKeyFile(path string, text []byte, replace bool) error {
	fill := func(w io.Writer) (int64, error) {
		n, err := w.Write(text)
		return int64(n), err
	}
	if replace {
		_, err := writeDurable(context.Background(), path, fill, nil)
		return err
	}
	dir := filepath.Dir(path)
	tmp := filepath.Join(dir, ".tmp-"+filepath.Base(path)+"-new")
	os.Remove(tmp)
	if _, err := writeDurable(context.Background(), tmp, fill, nil); err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	return syncDir(dir)
}

// errText renders an OS error without repeating the path twice.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
