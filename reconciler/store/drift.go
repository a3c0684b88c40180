package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrDrift means the org's deployed dir is not as Deploy left it (the symlink missing
// while deploy dirs remain, pointing elsewhere, or its files unreadable), so the store
// cannot tell which version is deployed. CheckDeployed says what differs; RepairDeployed
// restores it. Backup, Versions and Delete fail with it until then.
var ErrDrift = errors.New("deployed dir drifted")

// DriftKind names one kind of difference between the deployed dir and the store.
type DriftKind string

// Kinds of drift.
const (
	// DriftMissingLink: models/<org>/deployed does not exist.
	DriftMissingLink DriftKind = "missing link"
	// DriftBadLink: deployed is not a symlink to a deploy dir inside the org dir.
	DriftBadLink DriftKind = "bad link"
	// DriftMissingFile: the deploy dir or one of its files is missing.
	DriftMissingFile DriftKind = "missing file"
	// DriftChangedFile: a file's bytes differ from the record (the model's sha256, a
	// metadata or deployment file that does not parse or disagrees), or it is not a
	// regular file.
	DriftChangedFile DriftKind = "changed file"
	// DriftExtraFile: a file Deploy did not put there.
	DriftExtraFile DriftKind = "extra file"
	// DriftOtherVersion: the deployed dir is intact but holds another version or digest
	// than expected.
	DriftOtherVersion DriftKind = "other version"
)

// Drift is one difference, with the path relative to models/<org>/.
type Drift struct {
	Kind   DriftKind
	Path   string
	Detail string
}

// DriftReport is what CheckDeployed found.
type DriftReport struct {
	Org string
	// Target is where deployed points ("" when it is missing or not a symlink).
	Target string
	// Deployment is the deploy dir's deployment.json, zero when it is unreadable.
	Deployment Deployment
	Drift      []Drift
}

// Clean reports whether nothing differs.
func (r DriftReport) Clean() bool { return len(r.Drift) == 0 }

// String renders the differences on one line, "" when clean.
func (r DriftReport) String() string {
	parts := make([]string, len(r.Drift))
	for i, d := range r.Drift {
		parts[i] = fmt.Sprintf("%s: %s", d.Path, d.Kind)
		if d.Detail != "" {
			parts[i] += " (" + d.Detail + ")"
		}
	}
	return strings.Join(parts, "; ")
}

// CheckDeployed verifies the org's deployed dir against the store: deployed is a symlink
// to a .deploy-* dir inside the org dir; metadata.json and deployment.json parse and
// agree; the model file (model.onnx.age, or model.onnx for a plaintext deploy) is a
// regular file whose plaintext has the record's size and sha256 (streamed, never held in
// memory); no other file is there; and, when version or digest is not "", they are what
// is deployed. It returns every difference found, and an error only when it could not
// check (the org's key unavailable, an I/O error). Call it only for an org that has
// deployed: without a deploy it reports DriftMissingLink.
func (s *Store) CheckDeployed(ctx context.Context, org, version, digest string) (DriftReport, error) {
	rep := DriftReport{Org: org}
	dir, err := s.OrgDir(org)
	if err != nil {
		return rep, err
	}
	add := func(k DriftKind, path, format string, args ...any) {
		rep.Drift = append(rep.Drift, Drift{Kind: k, Path: path, Detail: fmt.Sprintf(format, args...)})
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		add(DriftMissingLink, DeployedLink, "the org has no directory")
		return rep, nil
	}
	unlock, err := lockOrg(ctx, dir, false)
	if err != nil {
		return rep, fmt.Errorf("check deployed %s: %w", org, err)
	}
	defer unlock()
	target, err := deployTarget(dir)
	switch {
	case errors.Is(err, ErrNotFound):
		add(DriftMissingLink, DeployedLink, "")
		return rep, nil
	case errors.Is(err, ErrDrift):
		add(DriftBadLink, DeployedLink, "%v", err)
		return rep, nil
	case err != nil:
		return rep, err
	}
	rep.Target = target
	ddir := filepath.Join(dir, target)
	if fi, err := os.Lstat(ddir); err != nil || !fi.IsDir() {
		add(DriftMissingFile, target, "the deploy dir deployed points at is gone")
		return rep, nil
	}
	rel := func(name string) string { return filepath.Join(target, name) }
	readFile := func(name string, v any) bool {
		p := filepath.Join(ddir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			add(DriftMissingFile, rel(name), "")
			return false
		}
		if !fi.Mode().IsRegular() {
			add(DriftChangedFile, rel(name), "not a regular file")
			return false
		}
		if err := readJSON(p, v); err != nil {
			add(DriftChangedFile, rel(name), "does not parse")
			return false
		}
		return true
	}
	var rec Record
	recOK := readFile(MetadataFile, &rec)
	depOK := readFile(DeploymentFile, &rep.Deployment)
	dep := rep.Deployment
	if recOK && depOK && (rec.Version != dep.Version || rec.Digest != dep.Digest) {
		add(DriftChangedFile, rel(DeploymentFile), "says %s@%s, metadata.json %s@%s", dep.Version, dep.Digest, rec.Version, rec.Digest)
	}
	plaintext := !s.Encrypted() || dep.Plaintext
	if !depOK && s.Encrypted() {
		plaintext = exists(filepath.Join(ddir, ModelFile))
	}
	modelName := EncryptedModelFile
	if plaintext {
		modelName = ModelFile
	}
	if recOK {
		if (version != "" && rec.Version != version) || (digest != "" && rec.Digest != digest) {
			add(DriftOtherVersion, target, "holds %s@%s, expected %s@%s", rec.Version, rec.Digest, version, digest)
		}
		fi, err := os.Lstat(filepath.Join(ddir, modelName))
		if err == nil && !fi.Mode().IsRegular() {
			add(DriftChangedFile, rel(modelName), "not a regular file")
		} else if err == nil {
			err = s.checkFile(ctx, org, filepath.Join(ddir, modelName), rec, plaintext)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrNotFound):
			add(DriftMissingFile, rel(modelName), "")
		case errors.Is(err, ErrCorrupt):
			add(DriftChangedFile, rel(modelName), "does not match the sha256 %s of %s", rec.ModelDigest, rec.Version)
		case err != nil:
			return rep, fmt.Errorf("check deployed %s: %w", org, err)
		}
	} else if !exists(filepath.Join(ddir, modelName)) {
		add(DriftMissingFile, rel(modelName), "")
	}
	entries, err := os.ReadDir(ddir)
	if err != nil {
		return rep, fmt.Errorf("check deployed %s: %w", org, err)
	}
	for _, e := range entries {
		if n := e.Name(); n != MetadataFile && n != DeploymentFile && n != modelName {
			add(DriftExtraFile, rel(n), "")
		}
	}
	return rep, nil
}

// RepairDeployed restores the org's deployed dir from the store: it makes sure version
// is in models/<org>/ (from backups/ when it was deleted there, see RestoreBackup),
// checks the stored model against its record, sets aside a file or directory found in
// place of the deployed symlink (in models/<org>/.quarantine/), and deploys the version
// again with Deploy (pass the same configCommit and PlaintextDeploy option as the
// original deploy). It fails with ErrCorrupt when the stored copy is damaged too (a hard
// link of a deploy dir written in place): quarantine the version and pull it again. The
// caller logs the event.
func (s *Store) RepairDeployed(ctx context.Context, org, version, configCommit string, opts ...DeployOption) error {
	dir, err := s.OrgDir(org)
	if err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("repair deployed %s/%s: %w", org, version, err) }
	verify := func() error {
		rec, err := s.Lookup(org, version)
		if err != nil {
			return err
		}
		return s.verifyFile(ctx, org, s.files(dir, version).model, rec, !s.Encrypted())
	}
	err = verify()
	if errors.Is(err, ErrNotFound) {
		if err := s.RestoreBackup(ctx, org, version); err != nil {
			return fail(err)
		}
		err = verify()
	}
	if err != nil {
		return fail(err)
	}
	if err := s.clearDeployedPath(ctx, dir); err != nil {
		return fail(err)
	}
	return s.Deploy(ctx, org, version, configCommit, opts...)
}

// clearDeployedPath moves whatever is at models/<org>/deployed, when it is not a
// symlink, to the quarantine dir, so Deploy can rename its symlink there.
func (s *Store) clearDeployedPath(ctx context.Context, dir string) error {
	link := filepath.Join(dir, DeployedLink)
	fi, err := os.Lstat(link)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode()&fs.ModeSymlink != 0) {
		return nil
	}
	if err != nil {
		return err
	}
	unlock, err := lockOrg(ctx, dir, false)
	if err != nil {
		return err
	}
	defer unlock()
	q := filepath.Join(dir, quarantineDir)
	if err := os.MkdirAll(q, 0o700); err != nil {
		return err
	}
	if err := os.Rename(link, filepath.Join(q, time.Now().UTC().Format("20060102T150405.000000000Z")+"-"+DeployedLink)); err != nil {
		return err
	}
	for _, d := range []string{q, dir} {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// deployDir is the deploy dir deployed points at, read and consistent.
type deployDir struct {
	path, meta, model string
	dep               Deployment
	rec               Record
	plaintext         bool
}

// currentDeploy reads the deploy dir deployed points at: ErrNotFound without a symlink,
// ErrDrift when the symlink, or the dir's metadata and deployment files, are not as
// Deploy left them. It does not read the model.
func (s *Store) currentDeploy(dir string) (deployDir, error) {
	target, err := deployTarget(dir)
	if err != nil {
		return deployDir{}, err
	}
	d := deployDir{path: filepath.Join(dir, target)}
	d.meta = filepath.Join(d.path, MetadataFile)
	drift := func(err error) (deployDir, error) {
		return deployDir{}, fmt.Errorf("deployed dir %s: %v: %w", target, err, ErrDrift)
	}
	if d.rec, err = readRecord(d.meta); err != nil {
		return drift(err)
	}
	if err := readJSON(filepath.Join(d.path, DeploymentFile), &d.dep); err != nil {
		return drift(err)
	}
	if d.rec.Version != d.dep.Version || d.rec.Digest != d.dep.Digest {
		return drift(fmt.Errorf("deployment.json says %s@%s, metadata.json %s@%s", d.dep.Version, d.dep.Digest, d.rec.Version, d.rec.Digest))
	}
	d.plaintext = !s.Encrypted() || d.dep.Plaintext
	d.model = filepath.Join(d.path, EncryptedModelFile)
	if d.plaintext {
		d.model = filepath.Join(d.path, ModelFile)
	}
	return d, nil
}

// deployTarget returns the deploy dir name deployed points at: ErrNotFound without a
// symlink; ErrDrift when deployed is not a symlink, or points outside the org dir or at
// anything but a .deploy-* name.
func deployTarget(dir string) (string, error) {
	link := filepath.Join(dir, DeployedLink)
	fi, err := os.Lstat(link)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", link, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		what := "regular file"
		if fi.IsDir() {
			what = "directory"
		} else if !fi.Mode().IsRegular() {
			what = "special file"
		}
		return "", fmt.Errorf("%s is a %s, not a symlink: %w", DeployedLink, what, ErrDrift)
	}
	target, err := os.Readlink(link)
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	if filepath.IsAbs(target) || filepath.Base(target) != target || !strings.HasPrefix(target, ".deploy-") {
		return "", fmt.Errorf("%s points at %q, not a deploy dir of the org: %w", DeployedLink, target, ErrDrift)
	}
	return target, nil
}
