// Package store keeps each organization's model versions on disk in Talon's layout and
// publishes the deployed one with a durable, atomic symlink swap.
//
// Layout under the data directory:
//
//	models/<org>/model_<version>.onnx           model bytes, complete and digest-checked
//	models/<org>/model_<version>.metadata.json  the Record for that version
//	models/<org>/.deploy-<n>/                   a deploy dir: model.onnx and metadata.json (hard links)
//	models/<org>/deployed -> .deploy-<n>        the symlink readers follow; swapped by rename
//	backups/<org>/, pipeline/<org>/logs/        kept for the housekeeping and pipeline logs
//
// A file appears under its final name only after it was written whole, fsynced and renamed,
// and the directory fsynced, so a crash at any point leaves either the old or the new state.
// Operations on one org must not run concurrently; different orgs are independent.
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/eaglenotifier/talon/policy"
)

// ModelFile and MetadataFile are the names inside a deploy directory.
const (
	ModelFile    = "model.onnx"
	MetadataFile = "metadata.json"
	DeployedLink = "deployed"
)

// ErrNotFound is returned when a version or deployment is not in the store.
var ErrNotFound = errors.New("not in store")

// Record describes one stored model version.
type Record struct {
	Org        string `json:"org"`
	Version    string `json:"version"`
	Repository string `json:"repository"`
	// Digest is the artifact's manifest digest (what was resolved and verified).
	Digest string `json:"digest"`
	// ModelDigest is the sha256 of the model bytes (the model layer's digest).
	ModelDigest  string          `json:"modelDigest"`
	Size         int64           `json:"size"`
	Format       string          `json:"format,omitempty"`
	ConfigCommit string          `json:"configCommit,omitempty"`
	StoredAt     time.Time       `json:"storedAt"`
	Metadata     json.RawMessage `json:"metadata,omitempty"`
}

// Store is the on-disk model store rooted at a data directory.
type Store struct {
	root string
}

// Open creates (mode 0700) or opens the store under root.
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", root, err)
	}
	for _, d := range []string{"models", "backups", "pipeline"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("store: create %s: %w", d, err)
		}
	}
	return &Store{root: abs}, nil
}

// Root returns the absolute data directory.
func (s *Store) Root() string { return s.root }

// OrgDir returns models/<org>, refusing any org name that is not a safe DNS label.
func (s *Store) OrgDir(org string) (string, error) {
	if err := policy.ValidateOrgName(org); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return filepath.Join(s.root, "models", org), nil
}

func (s *Store) versionPaths(org, version string) (model, meta string, err error) {
	dir, err := s.OrgDir(org)
	if err != nil {
		return "", "", err
	}
	if err := policy.ValidateVersion(version); err != nil {
		return "", "", fmt.Errorf("store: %w", err)
	}
	base := filepath.Join(dir, "model_"+version)
	return base + ".onnx", base + ".metadata.json", nil
}

// Lookup returns the record of a stored version, or ErrNotFound.
func (s *Store) Lookup(org, version string) (Record, error) {
	_, meta, err := s.versionPaths(org, version)
	if err != nil {
		return Record{}, err
	}
	return readRecord(meta)
}

// ReadModel returns the bytes of a stored version after checking them against the
// record's ModelDigest, so a file changed on disk behind Talon's back is never loaded.
func (s *Store) ReadModel(org, version string) ([]byte, Record, error) {
	model, meta, err := s.versionPaths(org, version)
	if err != nil {
		return nil, Record{}, err
	}
	rec, err := readRecord(meta)
	if err != nil {
		return nil, Record{}, err
	}
	b, err := readChecked(model, rec)
	return b, rec, err
}

// Deployed returns the record and bytes of the org's deployed model, checked against
// the record, or ErrNotFound when the org has never deployed. The symlink is resolved
// once so the record and the bytes come from the same deploy directory; when a swap
// prunes that directory mid-read, it resolves again.
func (s *Store) Deployed(org string) ([]byte, Record, error) {
	dir, err := s.OrgDir(org)
	if err != nil {
		return nil, Record{}, err
	}
	for attempt := 0; ; attempt++ {
		target, err := os.Readlink(filepath.Join(dir, DeployedLink))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Record{}, fmt.Errorf("%s deployed: %w", org, ErrNotFound)
		}
		if err != nil {
			return nil, Record{}, fmt.Errorf("store: %w", err)
		}
		if filepath.IsAbs(target) || filepath.Base(target) != target {
			return nil, Record{}, fmt.Errorf("store: %s/deployed points outside the org directory (%s)", org, target)
		}
		deployDir := filepath.Join(dir, target)
		rec, err := readRecord(filepath.Join(deployDir, MetadataFile))
		var b []byte
		if err == nil {
			b, err = readChecked(filepath.Join(deployDir, ModelFile), rec)
		}
		if errors.Is(err, ErrNotFound) && attempt < 3 {
			continue
		}
		return b, rec, err
	}
}

// Orgs lists the orgs that have a directory in the store.
func (s *Store) Orgs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "models"))
	if err != nil {
		return nil, fmt.Errorf("store: list orgs: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && policy.ValidateOrgName(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func readRecord(path string) (Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("store: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("store: %s is corrupt: %w", path, err)
	}
	return r, nil
}

func readChecked(path string, rec Record) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != rec.ModelDigest {
		return nil, fmt.Errorf("store: %s has digest %s, record says %s: file changed on disk", path, got, rec.ModelDigest)
	}
	return b, nil
}
