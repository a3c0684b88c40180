package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// Location says where a version's files are: models/<org>/ (the versions the reconciler
// deploys) or backups/<org>/ (the copies Backup keeps). Values combine with |.
type Location uint8

const (
	InModels Location = 1 << iota
	InBackups
)

// versionFiles names one version's files in models/<org>/ or backups/<org>/.
type versionFiles struct {
	model, meta, report, deployment string
	// otherModel is the model file name of the other store mode (.onnx vs .onnx.age):
	// Delete removes it too, and Versions counts it as a leftover.
	otherModel string
}

// files returns the file names of version in dir (models/<org> or backups/<org>); both
// must have been validated.
func (s *Store) files(dir, version string) versionFiles {
	base := filepath.Join(dir, "model_"+version)
	f := versionFiles{model: base + ".onnx", otherModel: base + ".onnx.age", meta: base + ".metadata.json",
		report: base + ".validation.json", deployment: base + ".deployment.json"}
	if s.Encrypted() {
		f.model, f.otherModel = f.otherModel, f.model
	}
	return f
}

// versionOf returns the version a file name in models/<org>/ or backups/<org>/ belongs
// to, and whether it is the record; ok is false for anything else.
func versionOf(name string) (version string, record, ok bool) {
	rest, found := strings.CutPrefix(name, "model_")
	if !found {
		return "", false, false
	}
	for _, suffix := range []string{".metadata.json", ".validation.json", ".deployment.json", ".onnx.age", ".onnx"} {
		if v, found := strings.CutSuffix(rest, suffix); found {
			return v, suffix == ".metadata.json", true
		}
	}
	return "", false, false
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// placeFile makes dst a hard link of src, or a durable copy when linking fails (another
// file system, no hard links), through a temporary name renamed over dst, and fsyncs
// dst's directory. Stored files are never changed in place (always replaced by rename),
// so a link shares nothing that could change under the other name.
func (s *Store) placeFile(ctx context.Context, src, dst string) error {
	if err := s.placeUnsynced(ctx, src, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// placeUnsynced is placeFile without the directory fsync: the caller fsyncs dst's
// directory once for several files, before a record that names them is placed.
func (s *Store) placeUnsynced(ctx context.Context, src, dst string) error {
	if _, err := os.Lstat(src); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", src, ErrNotFound)
		}
		return fmt.Errorf("store: %w", err)
	}
	dir := filepath.Dir(dst)
	tmp := filepath.Join(dir, ".tmp-link-"+filepath.Base(dst))
	os.Remove(tmp)
	link := os.Link
	if s.testHookLink != nil {
		link = s.testHookLink
	}
	if err := link(src, tmp); err != nil {
		f, err := os.Open(src)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		defer f.Close()
		if _, err := writeFile(ctx, dst, copyFrom(ctxReader{ctx, f}), nil, writeMode{deferDirSync: true}); err != nil {
			return fmt.Errorf("store: copy %s: %w", src, err)
		}
		return nil
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// removeDurable removes path and fsyncs its directory; a missing file is no error. It
// reports whether there was a file.
func removeDurable(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return true, syncDir(filepath.Dir(path))
}

// verifyFile streams the model file path (decrypting it with org's identities unless
// plaintext) and checks the plaintext against rec's Size and ModelDigest without holding
// it in memory: ErrCorrupt when it differs, ErrNotFound when path is missing. As in
// readModelFile, the key file is read again once when no identity matched.
func (s *Store) verifyFile(ctx context.Context, org, path string, rec Record, plaintext bool) error {
	for attempt := 0; ; attempt++ {
		var ids []age.Identity
		keyPath := ""
		if !plaintext {
			keys, err := s.loadKeys(org)
			if err != nil {
				return err
			}
			ids, keyPath = keys.ids, keys.path
		}
		err := verifyStream(ctx, path, rec, ids)
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			if attempt == 0 {
				continue
			}
			return corrupt(path, "not encrypted to any identity in %s (a file of another org, or the key file was replaced)", keyPath)
		}
		return err
	}
}

func verifyStream(ctx context.Context, path string, rec Record, ids []age.Identity) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return fmt.Errorf("store: %w", err)
	} else if !fi.Mode().IsRegular() {
		return corrupt(path, "not a regular file")
	}
	h := sha256.New()
	var n int64
	if ids == nil {
		n, err = io.CopyBuffer(h, onlyReader{ctxReader{ctx, io.LimitReader(f, rec.Size+1)}}, make([]byte, copyBuf))
		if err != nil && ctx.Err() == nil {
			err = readErr(path, err, "")
		}
	} else {
		n, err = streamDecrypted(io.Discard, path, ctxReader{ctx, f}, ids, h, rec.Size)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	if got := digestString(h); n != rec.Size || got != rec.ModelDigest {
		return corrupt(path, "plaintext is %d bytes with digest %s, record says %d bytes with %s", n, got, rec.Size, rec.ModelDigest)
	}
	return nil
}

// encryptFile writes the plaintext model file src, encrypted to org's current key, to dst
// durably, after checking it against rec (ErrCorrupt).
func (s *Store) encryptFile(ctx context.Context, org, src string, rec Record, dst string) error {
	keys, err := s.loadKeys(org)
	if err != nil {
		return err
	}
	f, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", src, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	fill := func(w io.Writer) (int64, error) {
		return streamEncrypted(w, ctxReader{ctx, io.LimitReader(f, rec.Size+1)}, keys.recipient, h)
	}
	check := func(n int64) error {
		if got := digestString(h); n != rec.Size || got != rec.ModelDigest {
			return corrupt(src, "plaintext is %d bytes with digest %s, record says %d bytes with %s", n, got, rec.Size, rec.ModelDigest)
		}
		return nil
	}
	_, err = writeDurable(ctx, dst, fill, check)
	return err
}
