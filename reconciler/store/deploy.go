package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DeployOption configures one Deploy.
type DeployOption func(*deployOptions)

type deployOptions struct{ plaintext bool }

// PlaintextDeploy(true) makes the new deploy dir hold the decrypted model.onnx, for an
// external inference server that reads deployed/ (the org's plaintextDeploy opt-in). Only
// that file is plaintext; the versions and backups stay encrypted. It is written durably
// (temp, fsync, rename) and checked against the record's sha256 first. Turning it off
// leaves plaintext in the previous deploy dir (kept for its readers) until the next deploy
// prunes it. The default is false; in an unencrypted store deploy dirs are plaintext anyway.
func PlaintextDeploy(on bool) DeployOption {
	return func(o *deployOptions) { o.plaintext = on }
}

// Deploy makes a stored version the org's deployed one, recording configCommit as the
// config commit it was deployed from: it builds a new deploy directory of hard links (or
// a decrypted model with PlaintextDeploy) plus deployment.json, fsyncs it, points a
// temporary symlink at it, renames that over `deployed` and fsyncs the org directory.
// Readers of deployed/ see the old or the new version whole, never a mix. The previous
// deploy directory is kept for readers still inside it; older ones are removed. It is
// PrepareDeploy followed by Publish.
func (s *Store) Deploy(ctx context.Context, org, version, configCommit string, opts ...DeployOption) error {
	st, err := s.PrepareDeploy(ctx, org, version, configCommit, opts...)
	if err != nil {
		return err
	}
	return st.Publish(ctx)
}

// StagedDeploy is a deploy directory built and made durable by PrepareDeploy that nothing
// points at yet: Publish makes it the deployed one, Discard removes it. One left behind
// by a crash is removed by the next deploy.
type StagedDeploy struct {
	s                  *Store
	org, version, name string
	dir                string // models/<org>
}

// PrepareDeploy does the slow part of Deploy while the org still serves its current
// version (while the candidate is being loaded and validated, say): it builds and fsyncs
// the new deploy directory, in which deployment.json records this moment as the
// deployment time. Nothing is visible in deployed/ until Publish.
func (s *Store) PrepareDeploy(ctx context.Context, org, version, configCommit string, opts ...DeployOption) (*StagedDeploy, error) {
	var o deployOptions
	for _, opt := range opts {
		opt(&o)
	}
	plaintext := o.plaintext || !s.Encrypted()
	model, meta, err := s.versionPaths(org, version)
	if err != nil {
		return nil, err
	}
	rec, err := readRecord(meta)
	if err != nil {
		return nil, fmt.Errorf("deploy %s/%s: %w", org, version, err)
	}
	dir := filepath.Dir(model)
	unlock, err := lockOrg(ctx, dir, false)
	if err != nil {
		return nil, fmt.Errorf("deploy %s/%s: %w", org, version, err)
	}
	defer unlock()
	st := &StagedDeploy{s: s, org: org, version: version, dir: dir, name: ".deploy-" + strconv.FormatInt(time.Now().UnixNano(), 10)}
	staged := filepath.Join(dir, st.name)
	if err := os.Mkdir(staged, 0o700); err != nil {
		return nil, fmt.Errorf("deploy %s/%s: %w", org, version, err)
	}
	fail := func(err error) (*StagedDeploy, error) {
		os.RemoveAll(staged)
		return nil, fmt.Errorf("deploy %s/%s: %w", org, version, err)
	}
	if err := os.Link(meta, filepath.Join(staged, MetadataFile)); err != nil {
		return fail(err)
	}
	switch {
	case s.Encrypted() && plaintext:
		err = s.decryptTo(ctx, org, model, rec, filepath.Join(staged, ModelFile))
	case s.Encrypted():
		err = s.verified.restamp(model, rec, false, func() error { return os.Link(model, filepath.Join(staged, EncryptedModelFile)) })
	default:
		err = s.verified.restamp(model, rec, true, func() error { return os.Link(model, filepath.Join(staged, ModelFile)) })
	}
	if err != nil {
		return fail(err)
	}
	dep, err := json.MarshalIndent(Deployment{Version: version, Digest: rec.Digest, ConfigCommit: configCommit,
		DeployedAt: time.Now().UTC(), Plaintext: plaintext}, "", "  ")
	if err == nil {
		// writeDurable fsyncs the file and the staged directory, which holds the links.
		_, err = writeDurable(ctx, filepath.Join(staged, DeploymentFile), copyFrom(strings.NewReader(string(dep)+"\n")), nil)
	}
	if err != nil {
		return fail(err)
	}
	return st, nil
}

// Publish points `deployed` at the staged directory (a temporary symlink renamed over
// it), fsyncs the org directory and removes deploy directories other than this one and
// the one it replaced.
func (st *StagedDeploy) Publish(ctx context.Context) error {
	unlock, err := lockOrg(ctx, st.dir, false)
	if err != nil {
		return fmt.Errorf("deploy %s/%s: %w", st.org, st.version, err)
	}
	defer unlock()
	fail := func(err error) error {
		os.RemoveAll(filepath.Join(st.dir, st.name))
		return fmt.Errorf("deploy %s/%s: %w", st.org, st.version, err)
	}
	if fi, err := os.Lstat(filepath.Join(st.dir, st.name)); err != nil || !fi.IsDir() {
		return fmt.Errorf("deploy %s/%s: the staged deploy dir %s is gone: %w", st.org, st.version, st.name, ErrNotFound)
	}
	prev, _ := os.Readlink(filepath.Join(st.dir, DeployedLink))
	tmpLink := filepath.Join(st.dir, ".deployed.tmp")
	os.Remove(tmpLink)
	if err := os.Symlink(st.name, tmpLink); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmpLink, filepath.Join(st.dir, DeployedLink)); err != nil {
		os.Remove(tmpLink)
		return fail(fmt.Errorf("swap symlink: %w", err))
	}
	if err := syncDir(st.dir); err != nil {
		return fmt.Errorf("deploy %s/%s: %w", st.org, st.version, err)
	}
	return pruneDeployDirs(st.dir, st.name, prev)
}

// Discard removes a staged directory that will not be published.
func (st *StagedDeploy) Discard() {
	if st != nil {
		os.RemoveAll(filepath.Join(st.dir, st.name))
	}
}
