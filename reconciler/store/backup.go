package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Backup keeps the org's deployed version in backups/<org>/ before a swap replaces it,
// and returns that version ("" with a nil error when the org has nothing deployed). The
// backup holds the version's files as in models/ — the model (encrypted in an encrypted
// store), its record and validation report, hard links where possible, else durable
// copies — plus model_<version>.deployment.json, the deployment being replaced (Versions
// reads when the version was last deployed from it). The files come from models/<org>/
// when the same digest is stored there, else from the deploy dir itself (a plaintext
// deploy is encrypted again on the way). The model is checked against its record first:
// a damaged deployed copy is not kept (ErrCorrupt). The record is written last, so a
// backup is whole or absent.
//
// Backup is idempotent: when the same digest is backed up already, it only records the
// newer deployment. A backup of the same version with another digest (a tag pushed
// again) is replaced.
func (s *Store) Backup(ctx context.Context, org string) (string, error) {
	dir, err := s.OrgDir(org)
	if err != nil {
		return "", err
	}
	bdir, err := s.BackupDir(org)
	if err != nil {
		return "", err
	}
	if _, err := os.Lstat(filepath.Join(dir, DeployedLink)); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	unlock, err := lockOrg(ctx, dir, false)
	if err != nil {
		return "", fmt.Errorf("backup %s: %w", org, err)
	}
	defer unlock()
	cur, err := s.currentDeploy(dir)
	if err != nil {
		return "", fmt.Errorf("backup %s: %w", org, err)
	}
	v := cur.dep.Version
	if err := os.MkdirAll(bdir, 0o700); err != nil {
		return "", fmt.Errorf("backup %s/%s: %w", org, v, err)
	}
	if err := s.backup(ctx, org, dir, bdir, cur); err != nil {
		return "", fmt.Errorf("backup %s/%s: %w", org, v, err)
	}
	return v, nil
}

func (s *Store) backup(ctx context.Context, org, dir, bdir string, cur deployDir) error {
	dst := s.files(bdir, cur.dep.Version)
	if old, err := readRecord(dst.meta); err == nil && sameContent(old, cur.rec) && exists(dst.model) {
		return writeDeploymentNote(ctx, dst.deployment, cur.dep, false)
	}
	// Hide an older backup of this version before any of its files is replaced.
	if _, err := removeDurable(dst.meta); err != nil {
		return err
	}
	src := s.files(dir, cur.dep.Version)
	recSrc, reportSrc := cur.meta, ""
	var err error
	if rec, rerr := readRecord(src.meta); rerr == nil && sameContent(rec, cur.rec) {
		recSrc, reportSrc = src.meta, src.report
		err = s.verified.restamp(src.model, cur.rec, !s.Encrypted(), func() error { return s.placeUnsynced(ctx, src.model, dst.model) })
	} else if cur.plaintext && s.Encrypted() {
		err = s.encryptFile(ctx, org, cur.model, cur.rec, dst.model)
	} else {
		err = s.placeUnsynced(ctx, cur.model, dst.model)
	}
	if err != nil {
		return err
	}
	// A hard link of a file checked and unchanged since is not read again (checkFile).
	if err := s.checkFile(ctx, org, dst.model, cur.rec, !s.Encrypted()); err != nil {
		if errors.Is(err, ErrCorrupt) {
			os.Remove(dst.model)
		}
		return err
	}
	if reportSrc != "" && exists(reportSrc) {
		if err := s.placeUnsynced(ctx, reportSrc, dst.report); err != nil {
			return err
		}
	}
	if err := writeDeploymentNote(ctx, dst.deployment, cur.dep, true); err != nil {
		return err
	}
	// One fsync of backups/<org> makes the model, report and note durable (each was
	// fsynced or is a link to a fsynced file) before the record that names them.
	if err := syncDir(bdir); err != nil {
		return err
	}
	return s.placeFile(ctx, recSrc, dst.meta)
}

// sameContent reports whether two records describe the same artifact and model bytes.
func sameContent(a, b Record) bool {
	return a.Digest == b.Digest && a.ModelDigest == b.ModelDigest && a.Size == b.Size
}

// writeDeploymentNote records dep in path unless path already holds a later deployment.
// With deferDirSync the caller fsyncs path's directory.
func writeDeploymentNote(ctx context.Context, path string, dep Deployment, deferDirSync bool) error {
	var old Deployment
	if err := readJSON(path, &old); err == nil && !old.DeployedAt.Before(dep.DeployedAt) {
		return nil
	}
	b, err := json.MarshalIndent(dep, "", "  ")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	_, err = writeFile(ctx, path, copyFrom(strings.NewReader(string(b)+"\n")), nil, writeMode{deferDirSync: deferDirSync})
	return err
}

// Backups returns the records of the versions kept in backups/<org>/, oldest stored
// first (ties: by version). A record that does not parse is left out (Versions reports
// it among Leftovers).
func (s *Store) Backups(org string) ([]Record, error) {
	bdir, err := s.BackupDir(org)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(bdir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list backups of %s: %w", org, err)
	}
	var out []Record
	for _, e := range entries {
		v, record, ok := versionOf(e.Name())
		if !ok || !record || !e.Type().IsRegular() {
			continue
		}
		rec, err := readRecord(filepath.Join(bdir, e.Name()))
		if errors.Is(err, ErrCorrupt) || (err == nil && rec.Version != v) {
			continue // reported by Versions as Leftovers
		}
		if err != nil {
			return nil, fmt.Errorf("backups of %s: %w", org, err)
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StoredAt.Equal(out[j].StoredAt) {
			return out[i].StoredAt.Before(out[j].StoredAt)
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// RestoreBackup puts the backup of version back into models/<org>/ when it is missing
// there (deleted by retention, quarantined), so a rollback can deploy it with the
// registry down. The backup's model is checked against its record first (ErrCorrupt),
// then model, report and record are linked (or copied) back, the record last. It does
// nothing when models/ holds the same digest with its model file. It fails when models/
// holds another digest under that version (delete it first), and with ErrNotFound when
// there is no backup of version.
func (s *Store) RestoreBackup(ctx context.Context, org, version string) error {
	dir, err := s.OrgDir(org)
	if err != nil {
		return err
	}
	bdir, err := s.BackupDir(org)
	if err != nil {
		return err
	}
	if _, _, err := s.versionPaths(org, version); err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("restore backup %s/%s: %w", org, version, err) }
	b, m := s.files(bdir, version), s.files(dir, version)
	if !exists(b.meta) {
		return fail(ErrNotFound)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	unlock, err := lockOrg(ctx, dir, false)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	brec, err := readRecord(b.meta)
	if err != nil {
		return fail(err)
	}
	switch cur, err := readRecord(m.meta); {
	case err == nil && !sameContent(cur, brec):
		return fail(fmt.Errorf("models/%s holds digest %s, the backup %s: delete that version first", org, cur.Digest, brec.Digest))
	case err == nil && exists(m.model):
		return nil
	case err == nil:
		// A record without its model (removed by hand): hide it until the model is back.
		if _, err := removeDurable(m.meta); err != nil {
			return fail(err)
		}
	case !errors.Is(err, ErrNotFound):
		return fail(err)
	}
	if err := s.verifyFile(ctx, org, b.model, brec, !s.Encrypted()); err != nil {
		return fail(err)
	}
	if err := s.placeUnsynced(ctx, b.model, m.model); err != nil {
		return fail(err)
	}
	if exists(b.report) && !exists(m.report) {
		if err := s.placeUnsynced(ctx, b.report, m.report); err != nil {
			return fail(err)
		}
	}
	// One fsync of models/<org> for the model and report, before the record names them.
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	if err := s.placeFile(ctx, b.meta, m.meta); err != nil {
		return fail(err)
	}
	return nil
}
