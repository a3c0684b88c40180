package gittest

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCountConns serves a repository through the counting proxy: every git command that
// reaches the daemon through it is one counted connection, and what it reads is the
// daemon's.
func TestCountConns(t *testing.T) {
	root := t.TempDir()
	bare := NewBareRepo(t, root, "config")
	seed := Clone(t, bare, filepath.Join(t.TempDir(), "seed"))
	seed.Write("a.txt", "a\n")
	sha := seed.Commit("a")
	seed.Push()

	cc := CountConns(t, StartDaemon(t, root))
	if n := cc.Connections(); n != 0 {
		t.Fatalf("Connections before use = %d; want 0", n)
	}
	out := Git(t, root, "ls-remote", cc.URL+"/config.git", "refs/heads/main")
	if !strings.HasPrefix(out, sha) {
		t.Errorf("ls-remote through the proxy = %q; want %s", out, sha)
	}
	if n := cc.Connections(); n != 1 {
		t.Errorf("Connections after ls-remote = %d; want 1", n)
	}
	c := Clone(t, cc.URL+"/config.git", filepath.Join(t.TempDir(), "c"))
	if got := c.Head(); got != sha {
		t.Errorf("clone through the proxy HEAD = %s; want %s", got, sha)
	}
	if n := cc.Connections(); n != 2 {
		t.Errorf("Connections after clone = %d; want 2", n)
	}
}
