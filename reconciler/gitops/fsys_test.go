package gitops

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// symlink makes a symlink in a work clone (git stores it as a link, mode 120000).
func symlink(t *testing.T, c *gittest.WorkClone, target, link string) {
	t.Helper()
	full := filepath.Join(c.Dir, filepath.FromSlash(link))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
}

// snapshotOf pushes what the clone holds and returns the mirror's snapshot of it.
func snapshotOf(t *testing.T, e *remoteEnv, c *gittest.WorkClone, opts ...Option) *Snapshot {
	t.Helper()
	head := plumbing.NewHash(c.Commit("snapshot"))
	c.Push()
	m := openMirror(t, e.url, opts...)
	mustFetch(t, m)
	s, err := m.Snapshot(ctxT(t), head)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSnapshotFS checks the fs.FS view against the standard library's conformance test
// and its symlink, size and context rules.
func TestSnapshotFS(t *testing.T) {
	e := newRemote(t, "path")
	c := e.clone(t)
	c.Write("README.md", "config repo\n")
	c.Write("orgs/acme.yaml", "org: acme\n")
	c.Write("orgs/archive/old.yaml", "org: old\n")
	c.Write("bin/run.sh", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(c.Dir, "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.Write("big/huge.bin", strings.Repeat("x", 200))
	symlink(t, c, "acme.yaml", "orgs/alias.yaml")
	symlink(t, c, "orgs", "dirlink")
	symlink(t, c, "../../etc/passwd", "orgs/escape.yaml")
	symlink(t, c, "/etc/passwd", "abs")
	symlink(t, c, "loop2", "loop1")
	symlink(t, c, "loop1", "loop2")
	snap := snapshotOf(t, e, c, WithMaxFileSize(100))
	fsys := snap.FS(ctxT(t))

	// fstest.TestFS opens every file it finds, so it runs on the part without the
	// over-limit file and the dangling links.
	sub, err := fs.Sub(fsys, "orgs/archive")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(sub, "old.yaml"); err != nil {
		t.Errorf("fstest.TestFS(orgs/archive): %v", err)
	}
	if err := fstest.TestFS(mustSub(t, fsys, "bin"), "run.sh"); err != nil {
		t.Errorf("fstest.TestFS(bin): %v", err)
	}

	for _, tc := range []struct {
		name      string
		lstatMode fs.FileMode // type bits
		statErr   error       // nil: Stat works
		size      int64       // Stat size when it works
		content   string      // ReadFile content when it works ("" skips)
	}{
		{"README.md", 0, nil, 12, "config repo\n"},
		{"orgs", fs.ModeDir, nil, 0, ""},
		{"orgs/alias.yaml", fs.ModeSymlink, nil, 10, "org: acme\n"},
		{"dirlink", fs.ModeSymlink, nil, 0, ""},
		{"dirlink/acme.yaml", 0, nil, 10, "org: acme\n"},
		{"orgs/escape.yaml", fs.ModeSymlink, fs.ErrNotExist, 0, ""},
		{"abs", fs.ModeSymlink, fs.ErrNotExist, 0, ""},
		{"big/huge.bin", 0, nil, 200, ""},
	} {
		li, err := fs.Lstat(fsys, tc.name)
		if err != nil || li.Mode().Type() != tc.lstatMode {
			t.Errorf("Lstat(%s) = %v, %v; want type %v", tc.name, li, err, tc.lstatMode)
			continue
		}
		si, err := fs.Stat(fsys, tc.name)
		if !errors.Is(err, tc.statErr) {
			t.Errorf("Stat(%s) error = %v, want %v", tc.name, err, tc.statErr)
			continue
		}
		if err == nil && !si.IsDir() && si.Size() != tc.size {
			t.Errorf("Stat(%s).Size() = %d, want %d", tc.name, si.Size(), tc.size)
		}
		if tc.content != "" {
			if b, err := fs.ReadFile(fsys, tc.name); err != nil || string(b) != tc.content {
				t.Errorf("ReadFile(%s) = %q, %v; want %q", tc.name, b, err, tc.content)
			}
		}
	}
	if target, err := fs.ReadLink(fsys, "orgs/escape.yaml"); err != nil || target != "../../etc/passwd" {
		t.Errorf("ReadLink(orgs/escape.yaml) = %q, %v", target, err)
	}
	if _, err := fs.ReadLink(fsys, "README.md"); err == nil {
		t.Error("ReadLink of a regular file: want an error")
	}
	if _, err := fs.Stat(fsys, "loop1"); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("Stat(loop1) = %v, want too many levels of symbolic links", err)
	}
	if _, err := fs.ReadFile(fsys, "big/huge.bin"); !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("ReadFile over the mirror's bound = %v, want ErrFileTooLarge", err)
	}
	for _, bad := range []string{"/README.md", "../x", "orgs/../README.md", ""} {
		if _, err := fsys.Open(bad); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want fs.ErrInvalid", bad, err)
		}
	}
	entries, err := fs.ReadDir(fsys, "orgs")
	var names []string
	for _, d := range entries {
		names = append(names, d.Name()+":"+d.Type().String())
	}
	want := []string{"acme.yaml:----------", "alias.yaml:L---------", "archive:d---------", "escape.yaml:L---------"}
	if err != nil || !cmp.Equal(want, names) {
		t.Errorf("ReadDir(orgs) = %v, %v; want %v", names, err, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := snap.FS(ctx).Open("README.md"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open after cancel = %v, want context.Canceled", err)
	}
}

func mustSub(t *testing.T, fsys fs.FS, dir string) fs.FS {
	t.Helper()
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestSnapshotFSLoadsLikeCheckout: policy.Load gives the same Config for a commit read
// from the mirror as for the same commit checked out on disk, for the example repository
// plus a broken org, a symlinked org file and an oversized one.
func TestSnapshotFSLoadsLikeCheckout(t *testing.T) {
	e := newRemote(t, "git")
	c := e.clone(t)
	if err := os.CopyFS(c.Dir, os.DirFS("../../examples/config-repo")); err != nil {
		t.Fatal(err)
	}
	c.Write("orgs/broken.yaml", "org: broken\nmodel: {repository: registry.example.com/b, verison: v1}\n")
	c.Write("orgs/huge.yaml", "# "+strings.Repeat("x", policy.MaxFileSize))
	symlink(t, c, "../../../etc/passwd", "orgs/evil.yaml")
	snap := snapshotOf(t, e, c, WithMaxFileSize(2*policy.MaxFileSize))

	fromGit, err := policy.Load(ctxT(t), snap.FS(ctxT(t)))
	if err != nil {
		t.Fatal(err)
	}
	fromDisk, err := policy.Load(ctxT(t), os.DirFS(c.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromDisk, fromGit); diff != "" {
		t.Errorf("Load from the mirror differs from Load of the checkout (-disk +git):\n%s", diff)
	}
	var orgs []string
	for _, o := range fromGit.Orgs {
		orgs = append(orgs, o.Name)
	}
	if diff := cmp.Diff([]string{"acme", "globex", "initech"}, orgs); diff != "" {
		t.Errorf("valid orgs (-want +got):\n%s", diff)
	}
	for _, org := range []string{"broken", "huge", "evil"} {
		if len(fromGit.Broken[org]) == 0 {
			t.Errorf("org %s is not broken; Broken = %v", org, fromGit.Broken)
		}
	}
}
