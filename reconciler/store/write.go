package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// decryptTo writes the plaintext of the encrypted version file src to dst, fsynced,
// after checking it against rec (ErrCorrupt). dst's directory is not fsynced: Deploy
// writes deployment.json into the same new deploy dir next, and that fsyncs it before
// the symlink points there.
func (s *Store) decryptTo(ctx context.Context, org, src string, rec Record, dst string) error {
	keys, err := s.loadKeys(org)
	if err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	fill := func(w io.Writer) (int64, error) {
		n, err := streamDecrypted(w, src, ctxReader{ctx, f}, keys.ids, h, rec.Size)
		if ctx.Err() != nil {
			return n, ctx.Err() // not ErrCorrupt: the read was cut short
		}
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			err = corrupt(src, "not encrypted to any identity in %s (a file of another org, or the key file was replaced)", keys.path)
		}
		return n, err
	}
	check := func(n int64) error {
		if got := digestString(h); n != rec.Size || got != rec.ModelDigest {
			return corrupt(src, "plaintext is %d bytes with digest %s, record says %d bytes with %s", n, got, rec.Size, rec.ModelDigest)
		}
		return nil
	}
	_, err = writeFile(ctx, dst, fill, check, writeMode{deferDirSync: true})
	return err
}

// Quarantine moves a stored version's files (model and metadata, whichever exist) to
// models/<org>/.quarantine/<time>-<version>/ and returns that directory, so a corrupt copy
// is kept for inspection and the version can be pulled again. Deploy dirs that link the
// same file are left alone: the next deploy replaces them.
func (s *Store) Quarantine(ctx context.Context, org, version string) (string, error) {
	model, meta, err := s.versionPaths(org, version)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(model)
	unlock, err := lockOrg(ctx, dir, false)
	if err != nil {
		return "", fmt.Errorf("quarantine %s/%s: %w", org, version, err)
	}
	defer unlock()
	q := filepath.Join(dir, quarantineDir, time.Now().UTC().Format("20060102T150405.000000000Z")+"-"+version)
	if err := os.MkdirAll(q, 0o700); err != nil {
		return "", fmt.Errorf("quarantine %s/%s: %w", org, version, err)
	}
	moved := 0
	for _, p := range []string{model, meta} {
		err := os.Rename(p, filepath.Join(q, filepath.Base(p)))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("quarantine %s/%s: %w", org, version, err)
		}
		moved++
	}
	if moved == 0 {
		os.Remove(q)
		return "", fmt.Errorf("quarantine %s/%s: %w", org, version, ErrNotFound)
	}
	for _, d := range []string{q, dir} {
		if err := syncDir(d); err != nil {
			return "", fmt.Errorf("quarantine %s/%s: %w", org, version, err)
		}
	}
	return q, nil
}

const quarantineDir = ".quarantine"

// pruneDeployDirs removes deploy directories other than the current and previous one.
func pruneDeployDirs(dir string, keep ...string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("prune deploy dirs: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, ".deploy-") || n == keep[0] || n == keep[1] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("prune deploy dir %s: %w", n, err)
		}
	}
	return nil
}

// copyFrom is a writeDurable fill that copies r.
func copyFrom(r io.Reader) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) { return io.Copy(w, r) }
}

// writeDurable writes path through a temporary file in the same directory (mode 0600,
// read-only 0400 once filled): fill it, check (when not nil) with the count fill
// returned, fsync, rename, fsync the directory. On any error the temporary file is removed and path is untouched. While a
// large file is filled, the kernel is asked to start writing it out (see writeback), so
// the disk works alongside fill and the fsync has little left to do.
func writeDurable(ctx context.Context, path string, fill func(io.Writer) (int64, error), check func(n int64) error) (int64, error) {
	return writeFile(ctx, path, fill, check, writeMode{})
}

// writeMode tunes writeFile.
type writeMode struct {
	// large: a model file, written around the page cache where the file system allows
	// (directWriter).
	large bool
	// deferDirSync: the caller fsyncs the directory itself, once for several files,
	// before anything that depends on them (a record naming them, a symlink to their
	// directory) is renamed into place.
	deferDirSync bool
}

// writeFile is writeDurable with a mode; durability is the same (file fsynced before
// the rename), except that with deferDirSync the rename is durable only once the caller
// fsyncs the directory.
func writeFile(ctx context.Context, path string, fill func(io.Writer) (int64, error), check func(n int64) error, mode writeMode) (int64, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	w := newFileWriter(f, mode.large)
	fail := func(err error) (int64, error) {
		w.close()
		f.Close()
		os.Remove(tmp)
		return 0, err
	}
	n, err := fill(w)
	if err == nil {
		err = w.finish()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fail(err)
	}
	if check != nil {
		if err := check(n); err != nil {
			return fail(err)
		}
	}
	// Read-only: the store replaces its files by rename and never writes one in place,
	// so a write into a deploy dir by mistake fails (for anyone but root) instead of
	// damaging the stored copy it is a hard link of.
	if err := f.Chmod(0o400); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if mode.deferDirSync {
		return n, nil
	}
	return n, syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// ctxReader stops a long copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
