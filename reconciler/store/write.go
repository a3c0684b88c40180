package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Put streams a model version into the store from r and records rec for it. The bytes go
// to a temporary file that is fsynced and renamed into place only after r ended without
// error and the bytes hash to rec.ModelDigest when it is set; otherwise nothing changes.
// It returns rec completed with Size, ModelDigest and StoredAt.
func (s *Store) Put(ctx context.Context, rec Record, r io.Reader) (Record, error) {
	model, meta, err := s.versionPaths(rec.Org, rec.Version)
	if err != nil {
		return Record{}, err
	}
	dir := filepath.Dir(model)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Record{}, fmt.Errorf("store: %w", err)
	}
	h := sha256.New()
	var got string
	check := func() error {
		got = "sha256:" + hex.EncodeToString(h.Sum(nil))
		if rec.ModelDigest != "" && rec.ModelDigest != got {
			return fmt.Errorf("bytes hash to %s, expected %s", got, rec.ModelDigest)
		}
		return nil
	}
	n, err := writeDurable(ctx, model, io.TeeReader(r, h), check)
	if err != nil {
		return Record{}, fmt.Errorf("store %s/%s: %w", rec.Org, rec.Version, err)
	}
	rec.ModelDigest, rec.Size, rec.StoredAt = got, n, time.Now().UTC()
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return Record{}, fmt.Errorf("store: %w", err)
	}
	if _, err := writeDurable(ctx, meta, strings.NewReader(string(b)+"\n"), nil); err != nil {
		return Record{}, fmt.Errorf("store %s/%s: metadata: %w", rec.Org, rec.Version, err)
	}
	return rec, nil
}

// Deploy makes a stored version the org's deployed one, recording configCommit as the
// config commit it was deployed from: it builds a new deploy directory of hard links plus
// deployment.json, fsyncs it, points a temporary symlink at it, renames that over
// `deployed` and fsyncs the org directory. Readers of deployed/ see the old or the new
// version whole, never a mix. The previous deploy directory is kept for readers still
// inside it; older ones are removed.
func (s *Store) Deploy(ctx context.Context, org, version, configCommit string) error {
	model, meta, err := s.versionPaths(org, version)
	if err != nil {
		return err
	}
	rec, err := readRecord(meta)
	if err != nil {
		return fmt.Errorf("deploy %s/%s: %w", org, version, err)
	}
	dir := filepath.Dir(model)
	name := ".deploy-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	staged := filepath.Join(dir, name)
	if err := os.Mkdir(staged, 0o700); err != nil {
		return fmt.Errorf("deploy %s/%s: %w", org, version, err)
	}
	for src, dst := range map[string]string{model: ModelFile, meta: MetadataFile} {
		if err := os.Link(src, filepath.Join(staged, dst)); err != nil {
			os.RemoveAll(staged)
			return fmt.Errorf("deploy %s/%s: %w", org, version, err)
		}
	}
	dep, err := json.MarshalIndent(Deployment{Version: version, Digest: rec.Digest, ConfigCommit: configCommit, DeployedAt: time.Now().UTC()}, "", "  ")
	if err == nil {
		_, err = writeDurable(ctx, filepath.Join(staged, DeploymentFile), strings.NewReader(string(dep)+"\n"), nil)
	}
	if err != nil {
		os.RemoveAll(staged)
		return fmt.Errorf("deploy %s/%s: %w", org, version, err)
	}
	prev, _ := os.Readlink(filepath.Join(dir, DeployedLink))
	tmpLink := filepath.Join(dir, ".deployed.tmp")
	os.Remove(tmpLink)
	if err := os.Symlink(name, tmpLink); err != nil {
		os.RemoveAll(staged)
		return fmt.Errorf("deploy %s/%s: %w", org, version, err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, DeployedLink)); err != nil {
		os.Remove(tmpLink)
		os.RemoveAll(staged)
		return fmt.Errorf("deploy %s/%s: swap symlink: %w", org, version, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("deploy %s/%s: %w", org, version, err)
	}
	return pruneDeployDirs(dir, name, prev)
}

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

// writeDurable writes r to path through a temporary file in the same directory: write,
// fsync, check (when not nil), rename, fsync the directory. On any error the temporary
// file is removed and path is untouched.
func writeDurable(ctx context.Context, path string, r io.Reader, check func() error) (int64, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	fail := func(err error) (int64, error) {
		f.Close()
		os.Remove(tmp)
		return 0, err
	}
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return fail(err)
	}
	if check != nil {
		if err := check(); err != nil {
			return fail(err)
		}
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
