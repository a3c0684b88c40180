package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrProtected is returned by Delete for a version it must not remove: the deployed one,
// or one the caller protects (Protect).
var ErrProtected = errors.New("version is protected")

// DeleteOption configures one Delete.
type DeleteOption func(*deleteOptions)

type deleteOptions struct {
	where     Location
	protected map[string]bool
}

// From limits Delete to where: InModels, InBackups or both. The default is both.
func From(where Location) DeleteOption {
	return func(o *deleteOptions) { o.where = where }
}

// Protect makes Delete refuse these versions with ErrProtected (the last known-good
// version, the rollback targets the caller keeps).
func Protect(versions ...string) DeleteOption {
	return func(o *deleteOptions) {
		for _, v := range versions {
			o.protected[v] = true
		}
	}
}

// Delete removes a version's files — record, validation report, deployment note and
// model — from models/<org>/ and backups/<org>/ (see From), durably. It refuses the
// version the deployed symlink points at and the versions of Protect (ErrProtected),
// and fails with ErrDrift when it cannot tell which version is deployed. It returns
// ErrNotFound when there was nothing to remove.
//
// The record goes first and its removal is fsynced before anything else is removed: a
// version is usable only with its record (every writer writes the record last), so after
// a crash at any point the version is either whole or gone (Lookup and ReadModel say
// ErrNotFound), never a record without its model. The files left behind show up as
// VersionInfo.Leftovers and a second Delete removes them. Deploy dirs keep their own
// hard links: readers of the previous deploy are not disturbed.
func (s *Store) Delete(ctx context.Context, org, version string, opts ...DeleteOption) error {
	return s.delete(ctx, org, version, opts, nil)
}

// delete is Delete with a hook called after every file removed; when it returns an error,
// delete returns it at once, as if the process died there (tests use it).
func (s *Store) delete(ctx context.Context, org, version string, opts []DeleteOption, stop func(path string) error) error {
	o := deleteOptions{where: InModels | InBackups, protected: map[string]bool{}}
	for _, opt := range opts {
		opt(&o)
	}
	if _, _, err := s.versionPaths(org, version); err != nil {
		return err
	}
	dir, _ := s.OrgDir(org)
	bdir, _ := s.BackupDir(org)
	fail := func(err error) error { return fmt.Errorf("delete %s/%s: %w", org, version, err) }
	if o.protected[version] {
		return fail(fmt.Errorf("%w: the caller keeps it", ErrProtected))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if !exists(dir) && !exists(bdir) {
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
	deployed, _, err := s.deployState(dir)
	if err != nil {
		return fail(err)
	}
	if deployed == version {
		return fail(fmt.Errorf("%w: it is deployed", ErrProtected))
	}
	found := false
	for _, loc := range []struct {
		where Location
		dir   string
	}{{InModels, dir}, {InBackups, bdir}} {
		if o.where&loc.where == 0 {
			continue
		}
		f := s.files(loc.dir, version)
		for i, p := range []string{f.meta, f.report, f.deployment, f.model, f.otherModel} {
			err := os.Remove(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fail(err)
			}
			found = true
			if i == 0 {
				if err := syncDir(loc.dir); err != nil {
					return fail(err)
				}
			}
			if stop != nil {
				if err := stop(p); err != nil {
					return err
				}
			}
		}
		if exists(loc.dir) {
			if err := syncDir(loc.dir); err != nil {
				return fail(err)
			}
		}
	}
	if !found {
		return fail(ErrNotFound)
	}
	return nil
}
