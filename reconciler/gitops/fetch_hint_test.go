package gitops

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// countedRemote is a config repository whose server tells how many ref advertisements it
// has sent: over git:// each connection starts with one (counted by a proxy in front of the
// daemon), over smart HTTP each GET of info/refs is one. Fetch of a new commit costs two
// (its listing, then the fetch's own); a hinted fetch of it costs one.
type countedRemote struct {
	*remoteEnv
	mirrorURL string     // the URL the mirror fetches from
	listings  func() int // nil when the transport has no server to count at
}

func newCountedRemote(t *testing.T, transport string) countedRemote {
	t.Helper()
	e := newRemote(t, transport)
	r := countedRemote{remoteEnv: e, mirrorURL: e.url}
	switch transport {
	case "git":
		cc := gittest.CountConns(t, strings.TrimSuffix(e.url, "/config.git"))
		r.mirrorURL, r.listings = cc.URL+"/config.git", cc.Connections
	case "http":
		r.listings = func() int { return e.http.Requests() - e.http.UploadPackRequests() }
	}
	return r
}

// fetchFunc is Fetch or FetchHint with its hint bound.
type fetchFunc func(context.Context) (FetchResult, error)

func hinted(m *Mirror, hint plumbing.Hash) fetchFunc {
	return func(ctx context.Context) (FetchResult, error) { return m.FetchHint(ctx, hint) }
}

// expect runs fetch and checks its result and, where the transport can tell, how many ref
// advertisements it cost.
func (r countedRemote) expect(t *testing.T, step string, fetch fetchFunc, want FetchResult, listings int) {
	t.Helper()
	before := 0
	if r.listings != nil {
		before = r.listings()
	}
	got, err := fetch(ctxT(t))
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%s (-want +got):\n%s", step, diff)
	}
	if r.listings == nil {
		return
	}
	if n := r.listings() - before; n != listings {
		t.Errorf("%s: the server advertised its refs %d times; want %d", step, n, listings)
	}
}

// unknownCommit is a well-formed commit id no repository in these tests has.
var unknownCommit = plumbing.NewHash(strings.Repeat("ab", 20))

// TestFetchHint follows pushes with hints as a webhook gives them, over every transport: a
// hint for the new head fetches it without the separate listing; a stale hint, a hint for an
// unknown commit and one for a commit on another branch change nothing but the path taken,
// and the head is always the remote's.
func TestFetchHint(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			r := newCountedRemote(t, tr)
			c := r.clone(t)
			c1 := seed(t, c)
			m := openMirror(t, r.mirrorURL)
			push := func(version string) plumbing.Hash {
				c.Write("orgs/acme.yaml", "org: acme\nmodel: {repository: r/acme/pdm, version: "+version+"}\n")
				h := plumbing.NewHash(c.Commit("acme " + version))
				c.Push()
				return h
			}

			r.expect(t, "first fetch, hinted", hinted(m, c1), FetchResult{Commit: c1, Changed: true, Fetched: true}, 1)
			c2 := push("v2")
			r.expect(t, "Fetch without a hint", m.Fetch, FetchResult{Commit: c2, Previous: c1, Changed: true, Fetched: true}, 2)
			c3 := push("v3")
			r.expect(t, "hint of the new head", hinted(m, c3), FetchResult{Commit: c3, Previous: c2, Changed: true, Fetched: true}, 1)
			data, err := m.ReadFile(ctxT(t), c3, "orgs/acme.yaml")
			if err != nil || !strings.Contains(string(data), "version: v3") {
				t.Fatalf("orgs/acme.yaml at c3 = %q, %v; want version v3", data, err)
			}

			// The mirror has the hinted commit as its head: the hint may be stale, so list.
			r.expect(t, "stale hint, nothing moved", hinted(m, c3), FetchResult{Commit: c3, Previous: c3}, 1)
			c4 := push("v4")
			r.expect(t, "stale hint, branch moved on", hinted(m, c3), FetchResult{Commit: c4, Previous: c3, Changed: true, Fetched: true}, 2)

			// A hint the remote does not bear out: the head is still the remote's.
			objects := objectFiles(t, m.Dir())
			r.expect(t, "unknown hint, nothing moved", hinted(m, unknownCommit), FetchResult{Commit: c4, Previous: c4}, 1)
			if diff := cmp.Diff(objects, objectFiles(t, m.Dir())); diff != "" {
				t.Errorf("unknown hint stored objects (-before +after):\n%s", diff)
			}
			c5 := push("v5")
			r.expect(t, "unknown hint, branch moved", hinted(m, unknownCommit), FetchResult{Commit: c5, Previous: c4, Changed: true, Fetched: true}, 1)

			c.Git("checkout", "--quiet", "-b", "staging")
			other := push("staging-only")
			c.Git("checkout", "--quiet", "main")
			r.expect(t, "hint of another branch's commit", hinted(m, other), FetchResult{Commit: c5, Previous: c5}, 1)
			if _, err := m.CommitInfo(ctxT(t), other); err == nil {
				t.Errorf("the mirror holds %s, which is only on branch staging", ShortHash(other))
			}
			if h, ok := m.Head(); !ok || h != c5 {
				t.Errorf("Head = %s, %v; want %s, true", h, ok, c5)
			}
		})
	}
}

// TestFetchHintFollowsForcePush rewrites the branch's history and hints the new head.
func TestFetchHintFollowsForcePush(t *testing.T) {
	r := newCountedRemote(t, "git")
	c := r.clone(t)
	c1 := seed(t, c)
	c.Write("orgs/acme.yaml", "org: acme\nmodel: {repository: r/acme/pdm, version: v2}\n")
	c2 := plumbing.NewHash(c.Commit("acme v2"))
	c.Push()
	m := openMirror(t, r.mirrorURL)
	r.expect(t, "first fetch", hinted(m, c2), FetchResult{Commit: c2, Changed: true, Fetched: true}, 1)

	c.Git("reset", "--hard", "--quiet", c1.String())
	c.Write("orgs/acme.yaml", "org: acme\nmodel: {repository: r/acme/pdm, version: v3}\n")
	c3 := plumbing.NewHash(c.Commit("acme v3, history rewritten"))
	c.ForcePush()
	r.expect(t, "hint after force-push", hinted(m, c3), FetchResult{Commit: c3, Previous: c2, Changed: true, Fetched: true}, 1)
	for commit, want := range map[plumbing.Hash]string{c3: "v3", c2: "v2", c1: "v1"} {
		data, err := m.ReadFile(ctxT(t), commit, "orgs/acme.yaml")
		if err != nil || !strings.Contains(string(data), "version: "+want) {
			t.Errorf("orgs/acme.yaml at %s = %q, %v; want version %s", ShortHash(commit), data, err, want)
		}
	}

	// Back to a commit the mirror holds: the hint is not new to the mirror, so Fetch's path.
	c.Git("reset", "--hard", "--quiet", c2.String())
	c.ForcePush()
	r.expect(t, "hint after force-push back", hinted(m, c2), FetchResult{Commit: c2, Previous: c3, Changed: true, Fetched: true}, 2)
}

// TestFetchHintErrors checks that a hinted fetch fails exactly as Fetch does, with the same
// message and sentinel, and leaves the mirror's head alone.
func TestFetchHintErrors(t *testing.T) {
	root := t.TempDir()
	gittest.NewBareRepo(t, root, "empty")
	full := gittest.NewBareRepo(t, root, "config")
	c := gittest.Clone(t, full, filepath.Join(t.TempDir(), "work"))
	head := seed(t, c)
	c.Git("push", "--quiet", "origin", "HEAD:refs/heads/staging")
	daemon := gittest.StartDaemon(t, root)
	web := gittest.StartHTTP(t, root)
	closed := closedPortURL(t)

	for _, tc := range []struct {
		name string
		url  string
		opts []Option
		is   error
	}{
		{"missing branch git", daemon + "/config.git", []Option{WithBranch("prod")}, ErrBranchNotFound},
		{"missing branch http", web + "/config.git", []Option{WithBranch("prod")}, ErrBranchNotFound},
		{"missing branch path", full, []Option{WithBranch("prod")}, ErrBranchNotFound},
		{"empty remote git", daemon + "/empty.git", nil, ErrEmptyRemote},
		{"empty remote path", filepath.Join(root, "empty.git"), nil, ErrEmptyRemote},
		{"no such repo git", daemon + "/nope.git", nil, ErrRepositoryNotFound},
		{"no such repo http", web + "/nope.git", nil, ErrRepositoryNotFound},
		{"unreachable git", closed, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := openMirror(t, tc.url, tc.opts...)
			_, plain := m.Fetch(ctxT(t))
			if plain == nil {
				t.Fatal("Fetch without a hint succeeded; the case is wrong")
			}
			res, err := m.FetchHint(ctxT(t), head)
			checkSameErr(t, m, res, err, plain, tc.is)
		})
	}

	// The tracked branch is deleted after the mirror fetched it.
	c.Git("push", "--quiet", "origin", "HEAD:refs/heads/prod")
	m := openMirror(t, daemon+"/config.git", WithBranch("prod"))
	if _, err := m.Fetch(ctxT(t)); err != nil {
		t.Fatalf("Fetch of prod: %v", err)
	}
	c.Git("push", "--quiet", "origin", ":refs/heads/prod")
	_, plain := m.Fetch(ctxT(t))
	for _, hint := range []plumbing.Hash{head, unknownCommit} {
		res, err := m.FetchHint(ctxT(t), hint)
		checkSameErr(t, m, res, err, plain, ErrBranchNotFound)
		if h, ok := m.Head(); !ok || h != head {
			t.Errorf("Head after the branch was deleted = %s, %v; want %s kept", h, ok, head)
		}
	}
}

// checkSameErr checks a hinted fetch's outcome against the unhinted error plain.
func checkSameErr(t *testing.T, m *Mirror, res FetchResult, err, plain, is error) {
	t.Helper()
	if err == nil {
		t.Fatalf("FetchHint = %+v, nil; want the error Fetch gives: %v", res, plain)
	}
	if err.Error() != plain.Error() {
		t.Errorf("FetchHint error\n  %v\nwant Fetch's\n  %v", err, plain)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("FetchHint error %q is not %q", err, is)
	}
	if res.Changed {
		t.Errorf("failed FetchHint reports Changed")
	}
	if is == ErrBranchNotFound && !strings.Contains(err.Error(), "main, staging") {
		t.Errorf("FetchHint error %q does not list the remote's branches", err)
	}
}
