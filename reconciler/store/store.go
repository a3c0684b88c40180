// Package store keeps each organization's model versions on disk in Talon's layout,
// encrypted at rest with the org's own age key, and publishes the deployed one with a
// durable, atomic symlink swap.
//
// Layout under the data directory (encrypted store; see below for the unsafe plaintext one):
//
//	models/<org>/model_<version>.onnx.age       model bytes, age-encrypted to the org's key
//	models/<org>/model_<version>.metadata.json  the Record for that version (plaintext)
//	models/<org>/.deploy-<n>/                   a deploy dir: model.onnx.age, metadata.json
//	                                            (hard links) and deployment.json; with
//	                                            PlaintextDeploy a decrypted model.onnx instead
//	models/<org>/deployed -> .deploy-<n>        the symlink readers follow; swapped by rename
//	models/<org>/.quarantine/<time>-<version>/  versions set aside by Quarantine
//	models/<org>/.lock                          serializes writers across processes (flock)
//	models/<org>/model_<version>.validation.json
//	                                            the validation report (PutReport)
//	backups/<org>/model_<version>.*             copies Backup keeps of replaced versions: the
//	                                            same files (hard links where possible) plus
//	                                            model_<version>.deployment.json
//	pipeline/<org>/logs/                        the pipeline logs
//
// A version exists when its record (metadata.json) does: Put, Backup and RestoreBackup
// write it last and Delete removes it first, so a crash never leaves a record without
// its model, and model files without a record are leftovers (VersionInfo.Leftovers).
//
// Keys live outside the data directory, one age identity file per org:
// <keydir>/<org>.agekey (see WithKeyDir and GenerateKey). The first identity in the file is
// the one new files are encrypted to; all of them are tried to decrypt (Rekey relies on it).
//
// A file appears under its final name only after it was written whole, fsynced and renamed,
// and its directory is fsynced before anything that names it (a record, the deployed
// symlink) is renamed into place — once for several files of one directory where they are
// placed together — so a crash at any point leaves either the old or the new state.
// Model bytes are encrypted while they stream in: no plaintext temporary file is written,
// and they are written around the page cache (O_DIRECT) where the file system allows.
// Reads decrypt into memory only and re-check the plaintext's sha256 (ErrCorrupt).
// Operations on one org must not run concurrently within a process; writers in different
// processes (talon run and talon store rekey) exclude each other with a lock file. Readers
// never block.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/eaglenotifier/talon/policy"
)

// Names inside a deploy directory and of the deployed symlink.
const (
	// ModelFile is the plaintext model: in an unencrypted store, or with PlaintextDeploy.
	ModelFile = "model.onnx"
	// EncryptedModelFile is the age-encrypted model in an encrypted store's deploy dir.
	EncryptedModelFile = "model.onnx.age"
	MetadataFile       = "metadata.json"
	DeployedLink       = "deployed"
	// DeploymentFile records when and from which config commit a deploy dir was made.
	DeploymentFile = "deployment.json"
)

// Deployment records one deploy: which version and digest, from which config commit, when.
type Deployment struct {
	Version      string    `json:"version"`
	Digest       string    `json:"digest"`
	ConfigCommit string    `json:"configCommit,omitempty"`
	DeployedAt   time.Time `json:"deployedAt"`
	// Plaintext is true when the deploy dir holds a decrypted model.onnx (PlaintextDeploy
	// in an encrypted store, or any deploy of an unencrypted one).
	Plaintext bool `json:"plaintext,omitempty"`
}

// Errors callers branch on with errors.Is.
var (
	// ErrNotFound is returned when a version or deployment is not in the store.
	ErrNotFound = errors.New("not in store")
	// ErrCorrupt means the stored copy is not what its record says: a flipped bit, a
	// truncated or swapped file, or a file encrypted to another key. Quarantine the
	// version and pull it again.
	ErrCorrupt = errors.New("stored copy is corrupt")
)

// Record describes one stored model version.
type Record struct {
	Org        string `json:"org"`
	Version    string `json:"version"`
	Repository string `json:"repository"`
	// Digest is the artifact's manifest digest (what was resolved and verified).
	Digest string `json:"digest"`
	// ModelDigest is the sha256 of the plaintext model bytes (the model layer's digest).
	ModelDigest string `json:"modelDigest"`
	// Size is the plaintext size in bytes.
	Size         int64  `json:"size"`
	Format       string `json:"format,omitempty"`
	ConfigCommit string `json:"configCommit,omitempty"`
	// Signer names the trusted key whose signature was verified (set by the caller).
	Signer string `json:"signer,omitempty"`
	// Created is when the artifact was created (the manifest's
	// org.opencontainers.image.created annotation); zero when unknown. Retention ranks
	// versions by it, or by StoredAt when it is zero.
	Created  time.Time       `json:"created,omitzero"`
	StoredAt time.Time       `json:"storedAt"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// Store is the on-disk model store rooted at a data directory.
type Store struct {
	root   string
	keyDir string // "" only with WithoutEncryptionUnsafe
	// verified remembers model files checked against their records (see checkFile).
	verified verifiedFiles

	// testHookKeysLoaded, when set by a test, runs between loading a key file and reading
	// the model file it decrypts.
	testHookKeysLoaded func()
	// testHookFullCheck, when set by a test, is called with the path of each file
	// checkFile reads whole.
	testHookFullCheck func(path string)
	// testHookLink, when set by a test, replaces os.Link (to make hard links fail).
	testHookLink func(oldname, newname string) error
}

// Option configures Open.
type Option func(*options) error

type options struct {
	keyDir    string
	plaintext bool
}

// WithKeyDir encrypts every org's model files at rest with the age identity in
// dir/<org>.agekey. dir must exist, be a directory and not be writable by others; each key
// file must be a regular file owned by this user (or root) with mode 0600 or stricter.
// An org whose key is missing or unsafe fails closed (ErrKeyUnavailable); others go on.
func WithKeyDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("WithKeyDir: empty key directory")
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("key directory %s: %w", dir, err)
		}
		o.keyDir = abs
		return nil
	}
}

// WithoutEncryptionUnsafe keeps model bytes in plaintext on disk, as readable as the data
// directory's permissions allow. It is for tests and throwaway demos only; Open refuses to
// guess, so a store without WithKeyDir needs this option spelled out.
func WithoutEncryptionUnsafe() Option {
	return func(o *options) error {
		o.plaintext = true
		return nil
	}
}

// Open creates (mode 0700) or opens the store under root. It needs exactly one of
// WithKeyDir and WithoutEncryptionUnsafe: there is no default, so forgetting the keys
// fails instead of writing plaintext.
func Open(root string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	switch {
	case o.keyDir != "" && o.plaintext:
		return nil, errors.New("store: WithKeyDir and WithoutEncryptionUnsafe conflict: choose one")
	case o.keyDir == "" && !o.plaintext:
		return nil, errors.New("store: no key directory: pass WithKeyDir (talon: --keys DIR), or WithoutEncryptionUnsafe for tests and demos")
	}
	if o.keyDir != "" {
		if err := checkKeyDir(o.keyDir); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", root, err)
	}
	for _, d := range []string{"models", "backups", "pipeline"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("store: create %s: %w", d, err)
		}
	}
	return &Store{root: abs, keyDir: o.keyDir}, nil
}

// Root returns the absolute data directory.
func (s *Store) Root() string { return s.root }

// Encrypted reports whether model bytes are encrypted at rest (WithKeyDir).
func (s *Store) Encrypted() bool { return s.keyDir != "" }

// OrgDir returns models/<org>, refusing any org name that is not a safe DNS label.
func (s *Store) OrgDir(org string) (string, error) {
	if err := policy.ValidateOrgName(org); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return filepath.Join(s.root, "models", org), nil
}

// BackupDir returns backups/<org>. Model bytes written there must be encrypted like the
// versions (Rekey re-encrypts every *.age file below it).
func (s *Store) BackupDir(org string) (string, error) {
	if err := policy.ValidateOrgName(org); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return filepath.Join(s.root, "backups", org), nil
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
	model = base + ".onnx"
	if s.Encrypted() {
		model += ".age"
	}
	return model, base + ".metadata.json", nil
}

// Lookup returns the record of a stored version, or ErrNotFound.
func (s *Store) Lookup(org, version string) (Record, error) {
	_, meta, err := s.versionPaths(org, version)
	if err != nil {
		return Record{}, err
	}
	return readRecord(meta)
}

// ReadModel returns the plaintext bytes of a stored version, decrypted into memory and
// checked against the record's Size and ModelDigest, so a file changed on disk behind
// Talon's back is never loaded (ErrCorrupt). A missing or unsafe key is ErrKeyUnavailable.
func (s *Store) ReadModel(org, version string) ([]byte, Record, error) {
	model, meta, err := s.versionPaths(org, version)
	if err != nil {
		return nil, Record{}, err
	}
	rec, err := readRecord(meta)
	if err != nil {
		return nil, Record{}, err
	}
	b, err := s.readModelFile(org, model, rec, !s.Encrypted())
	return b, rec, err
}

// Deployed returns the org's deployed model: its plaintext bytes, checked against its
// record, the record and the deployment, or ErrNotFound when the org has never deployed.
// The symlink is resolved once so all three come from the same deploy directory; when a
// swap prunes that directory mid-read, it resolves again.
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
		b, rec, dep, err := s.readDeployDir(org, filepath.Join(dir, target))
		if errors.Is(err, ErrNotFound) && attempt < 3 {
			continue
		}
		return b, rec, dep, err
	}
}

func (s *Store) readDeployDir(org, dir string) ([]byte, Record, Deployment, error) {
	var dep Deployment
	rec, err := readRecord(filepath.Join(dir, MetadataFile))
	if err != nil {
		return nil, Record{}, dep, err
	}
	if err := readJSON(filepath.Join(dir, DeploymentFile), &dep); err != nil {
		return nil, Record{}, dep, err
	}
	plaintext := !s.Encrypted() || dep.Plaintext
	name := EncryptedModelFile
	if plaintext {
		name = ModelFile
	}
	b, err := s.readModelFile(org, filepath.Join(dir, name), rec, plaintext)
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

// maxJSON bounds metadata and deployment files.
const maxJSON = 16 << 20

func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJSON+1))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if len(b) > maxJSON {
		return fmt.Errorf("store: %s is larger than %d bytes: %w", path, maxJSON, ErrCorrupt)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: %s is not valid JSON (%v): %w", path, err, ErrCorrupt)
	}
	return nil
}
