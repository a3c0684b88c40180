package gittest

import (
	"os"
	"path/filepath"
	"testing"
)

// WorkClone is a working copy of a repository driven with the git CLI, the way a person
// edits a config repository: write files, commit, push, revert.
type WorkClone struct {
	t   testing.TB
	Dir string // the working tree
}

// Clone clones url into dir with the git CLI. Cloning an empty repository works (git warns
// and leaves an unborn main branch), so the first push of a new repository goes through here.
func Clone(t testing.TB, url, dir string) *WorkClone {
	t.Helper()
	Git(t, filepath.Dir(dir), "clone", "--quiet", url, dir)
	return &WorkClone{t: t, Dir: dir}
}

// Git runs git in the clone and returns its trimmed stdout; the test fails with git's stderr
// on error.
func (c *WorkClone) Git(args ...string) string {
	c.t.Helper()
	return Git(c.t, c.Dir, args...)
}

// Write writes content to path (slash-separated, relative to the clone), creating parent
// directories. It does not stage or commit.
func (c *WorkClone) Write(path, content string) {
	c.t.Helper()
	full := filepath.Join(c.Dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		c.t.Fatalf("write %s: %v", path, err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		c.t.Fatalf("write %s: %v", path, err)
	}
}

// Remove deletes path (slash-separated, relative to the clone) from the working tree. It does
// not stage or commit.
func (c *WorkClone) Remove(path string) {
	c.t.Helper()
	if err := os.Remove(filepath.Join(c.Dir, filepath.FromSlash(path))); err != nil {
		c.t.Fatalf("remove %s: %v", path, err)
	}
}

// Commit stages everything (git add -A), commits it with the fixed test author and returns
// the new commit's full sha.
func (c *WorkClone) Commit(msg string) string {
	c.t.Helper()
	c.Git("add", "-A")
	c.Git("commit", "--quiet", "-m", msg)
	return c.Head()
}

// Head returns the full sha of the clone's HEAD commit.
func (c *WorkClone) Head() string {
	c.t.Helper()
	return c.Git("rev-parse", "HEAD")
}

// Push pushes the current branch to the same name on origin (git push origin HEAD).
func (c *WorkClone) Push() {
	c.t.Helper()
	c.Git("push", "--quiet", "origin", "HEAD")
}

// ForcePush pushes the current branch with --force, replacing the remote branch's history.
func (c *WorkClone) ForcePush() {
	c.t.Helper()
	c.Git("push", "--quiet", "--force", "origin", "HEAD")
}

// Revert makes a commit undoing sha (git revert --no-edit) and returns the new commit's sha.
// It does not push.
func (c *WorkClone) Revert(sha string) string {
	c.t.Helper()
	c.Git("revert", "--no-edit", sha)
	return c.Head()
}
