package gitwrite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/eaglenotifier/talon/reconciler/gitops"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func sig() object.Signature {
	return object.Signature{Name: "Talon", Email: "talon@localhost", When: time.Unix(1700000000, 0).UTC()}
}

// TestEditTreeMatchesGit writes the same files with the CLI and with EditTree and expects
// the same tree hash: entry order (a.b before a/), nesting, modes and deletions.
func TestEditTreeMatchesGit(t *testing.T) {
	root := t.TempDir()
	bare := gittest.NewBareRepo(t, root, "config")
	wc := gittest.Clone(t, bare, filepath.Join(t.TempDir(), "wc"))
	wc.Write("a/x.yaml", "x\n")
	wc.Write("a.b", "dot\n")
	wc.Write("a-c/y", "y\n")
	wc.Write("orgs/acme.yaml", "v1\n")
	wc.Write("gone/only.txt", "bye\n")
	first := wc.Commit("first")
	wc.Git("rm", "--quiet", "-r", "gone")
	wc.Write("status/acme/pod-a.yaml", "phase: Deployed\n")
	wc.Write("orgs/acme.yaml", "v2\n")
	wc.Write("run.sh", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(wc.Dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	wc.Commit("second")
	wc.Push()
	want := wc.Git("rev-parse", "HEAD^{tree}")

	r, err := Open("", bare, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, err := r.Sync(ctxT(t), "main")
	if err != nil {
		t.Fatal(err)
	}
	if head.String() == first {
		t.Fatalf("Sync returned the first commit")
	}
	c, err := r.Repository().CommitObject(plumbing.NewHash(first))
	if err != nil {
		t.Fatal(err)
	}
	blob := func(s string) plumbing.Hash {
		h, err := r.WriteBlob([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	got, err := r.EditTree(c.TreeHash, []Change{
		{Path: "gone/only.txt", Delete: true},
		{Path: "status/acme/pod-a.yaml", Hash: blob("phase: Deployed\n")},
		{Path: "orgs/acme.yaml", Hash: blob("v2\n")},
		{Path: "run.sh", Mode: filemode.Executable, Hash: blob("#!/bin/sh\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want {
		t.Errorf("EditTree = %s; git made %s", got, want)
	}
}

func TestEditTreeRejects(t *testing.T) {
	r, err := Open("", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := r.WriteBlob([]byte("x"))
	base, err := r.EditTree(plumbing.ZeroHash, []Change{{Path: "d/f", Hash: h}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ch   []Change
	}{
		{"dotdot", []Change{{Path: "../x", Hash: h}}},
		{"absolute", []Change{{Path: "/x", Hash: h}}},
		{"dotgit", []Change{{Path: "a/.git/config", Hash: h}}},
		{"unclean", []Change{{Path: "a//b", Hash: h}}},
		{"twice", []Change{{Path: "x", Hash: h}, {Path: "x", Delete: true}}},
		{"file over dir", []Change{{Path: "d", Hash: h}}},
		{"dir under file", []Change{{Path: "d/f/g", Hash: h}}},
	} {
		if _, err := r.EditTree(base, tc.ch); err == nil {
			t.Errorf("%s: EditTree accepted %+v", tc.name, tc.ch)
		}
	}
}

// TestPushOrphanAndStale pushes an orphan branch into an empty repository over git://, then
// shows a push built on an old head is refused with ErrStale and changes nothing.
func TestPushOrphanAndStale(t *testing.T) {
	root := t.TempDir()
	bare := gittest.NewBareRepo(t, root, "config")
	url := gittest.StartDaemon(t, root) + "/config.git"
	ctx := ctxT(t)

	a, err := Open("", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, err := a.Sync(ctx, "talon-status")
	if err != nil || !head.IsZero() {
		t.Fatalf("Sync of an empty repository = %s, %v; want zero hash, nil", head, err)
	}
	commit := func(r *Remote, parent plumbing.Hash, content string) plumbing.Hash {
		t.Helper()
		b, err := r.WriteBlob([]byte(content))
		if err != nil {
			t.Fatal(err)
		}
		var base plumbing.Hash
		c := &object.Commit{Author: sig(), Committer: sig(), Message: content + "\n"}
		if !parent.IsZero() {
			pc, err := r.Repository().CommitObject(parent)
			if err != nil {
				t.Fatal(err)
			}
			base = pc.TreeHash
			c.ParentHashes = []plumbing.Hash{parent}
		}
		if c.TreeHash, err = r.EditTree(base, []Change{{Path: "f", Hash: b}}); err != nil {
			t.Fatal(err)
		}
		h, err := r.WriteCommit(c)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	c1 := commit(a, plumbing.ZeroHash, "one")
	if err := a.Push(ctx, "talon-status", plumbing.ZeroHash, c1); err != nil {
		t.Fatal(err)
	}
	if got := gittest.Git(t, bare, "rev-list", "--parents", "talon-status"); got != c1.String() {
		t.Fatalf("rev-list --parents = %q; want the orphan %s alone", got, c1)
	}

	b, _ := Open("", url, nil)
	if h, err := b.Sync(ctx, "talon-status"); err != nil || h != c1 {
		t.Fatalf("b.Sync = %s, %v", h, err)
	}
	c2 := commit(b, c1, "two")
	if err := b.Push(ctx, "talon-status", c1, c2); err != nil {
		t.Fatal(err)
	}
	// a still believes c1 is the head; so does a second orphan attempt.
	for name, try := range map[string][2]plumbing.Hash{
		"old head":    {c1, commit(a, c1, "three")},
		"orphan race": {plumbing.ZeroHash, commit(a, plumbing.ZeroHash, "four")},
	} {
		err := a.Push(ctx, "talon-status", try[0], try[1])
		if !errors.Is(err, ErrStale) {
			t.Errorf("%s: Push = %v; want ErrStale", name, err)
		}
		if got := gittest.Git(t, bare, "rev-parse", "talon-status"); got != c2.String() {
			t.Errorf("%s: branch moved to %s", name, got)
		}
	}
}

func TestSyncListsOnlyWhenHeld(t *testing.T) {
	root := t.TempDir()
	gittest.NewBareRepo(t, root, "config")
	srv := gittest.NewHTTPServer(t, root)
	url := srv.URL + "/config.git"
	wc := gittest.Clone(t, url, filepath.Join(t.TempDir(), "wc"))
	wc.Write("f", "1\n")
	c1 := wc.Commit("one")
	wc.Push()

	r, _ := Open("", url, nil)
	ctx := ctxT(t)
	if h, err := r.Sync(ctx, "main"); err != nil || h.String() != c1 {
		t.Fatalf("Sync = %s, %v", h, err)
	}
	packs := srv.UploadPackRequests()
	if h, err := r.Sync(ctx, "main"); err != nil || h.String() != c1 {
		t.Fatalf("second Sync = %s, %v", h, err)
	}
	if n := srv.UploadPackRequests() - packs; n != 0 {
		t.Errorf("second Sync made %d pack requests; want 0", n)
	}
	if h, err := r.Head(ctx, "nope"); err != nil || !h.IsZero() {
		t.Errorf("Head of a missing branch = %s, %v", h, err)
	}
}

func TestNormalizeURLHidesCredentials(t *testing.T) {
	_, display, err := gitops.NormalizeURL("https://ci:s3cret@git.example.invalid/config.git")
	if err != nil || strings.Contains(display, "s3cret") || display != "https://git.example.invalid/config.git" {
		t.Errorf("display = %q, %v", display, err)
	}
	for _, bad := range []string{"", "git@host:repo.git", "ssh://host/repo", "http:///x"} {
		if _, _, err := gitops.NormalizeURL(bad); err == nil {
			t.Errorf("gitops.NormalizeURL(%q) accepted", bad)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	base, max := 10*time.Millisecond, 80*time.Millisecond
	for attempt, want := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 4: 80 * time.Millisecond, 30: 80 * time.Millisecond} {
		for range 50 {
			d := Backoff(attempt, base, max)
			if d < want/2 || d > want {
				t.Fatalf("Backoff(%d) = %s; want in [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
}
