// Package store keeps each organization's model versions on disk in Talon's layout and
// publishes the deployed one with a durable, atomic symlink swap.
//
// Layout under the data directory:
//
//	models/<org>/model_<version>.onnx           model bytes, complete and digest-checked
//	models/<org>/model_<version>.metadata.json  the Record for that version
//	models/<org>/.deploy-<n>/                   a deploy dir: model.onnx, metadata.json (hard
//	                                            links) and deployment.json
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
	// DeploymentFile records when and from which config commit a deploy dir was made.
	DeploymentFile = "deployment.json"
)

// Deployment records one deploy: which version and digest, from which config commit, when.
type Deployment struct {
	Version      string    `json:"version"`
	Digest       string    `json:"digest"`
	ConfigCommit string    `json:"configCommit,omitempty"`
	DeployedAt   time.Time `json:"deployedAt"`
}

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

// Deployed returns the org's deployed model: its bytes, checked against its record, the
// record and the deployment, or ErrNotFound when the org has never deployed. The symlink
// is resolved once so all three come from the same deploy directory; when a swap prunes
// that directory mid-read, it resolves again.
func (s *Store) Deployed(org string) ([]byte, Record, Deployment, error) {
	dir, err := s.OrgDir(org)
	if err != nil {
		return nil, Record{}, Deployment{}, err
	}
	for attempt := 0; ; attempt++ {
		target, err := os.Readlink(filepath.Join(dir, DeployedLink))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Record{}, Deployment{}, fmt.Errorf("%s deployed: %w", org, ErrNotFound)
		}
		if err != nil {
			return nil, Record{}, Deployment{}, fmt.Errorf("store: %w", err)
		}
		if filepath.IsAbs(target) || filepath.Base(target) != target {
			return nil, Record{}, Deployment{}, fmt.Errorf("store: %s/deployed points outside the org directory (%s)", org, target)
		}
		b, rec, dep, err := readDeployDir(filepath.Join(dir, target))
		if errors.Is(err, ErrNotFound) && attempt < 3 {
			continue
		}
		return b, rec, dep, err
	}
}

func readDeployDir(dir string) ([]byte, Record, Deployment, error) {
	var dep Deployment
	rec, err := readRecord(filepath.Join(dir, MetadataFile))
	if err != nil {
		return nil, Record{}, dep, err
	}
	if err := readJSON(filepath.Join(dir, DeploymentFile), &dep); err != nil {
		return nil, Record{}, dep, err
	}
	b, err := readChecked(filepath.Join(dir, ModelFile), rec)
	return b, rec, dep, err
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
	var r Record
	err := readJSON(path, &r)
	return r, err
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: %s is corrupt: %w", path, err)
	}
	return nil
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
