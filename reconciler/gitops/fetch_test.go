package gitops

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

// TestFetchStory walks the GitOps story over every transport: first fetch, a no-change fetch
// that transfers nothing, a push, a revert, and reading old and new commits.
func TestFetchStory(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			e := newRemote(t, tr)
			c := e.clone(t)
			c1 := seed(t, c)
			m := openMirror(t, e.url)

			if h, ok := m.Head(); ok {
				t.Fatalf("Head before any fetch = %s, true; want false", h)
			}
			got := mustFetch(t, m)
			if diff := cmp.Diff(FetchResult{Commit: c1, Changed: true, Fetched: true}, got); diff != "" {
				t.Fatalf("first Fetch (-want +got):\n%s", diff)
			}
			if h, ok := m.Head(); !ok || h != c1 {
				t.Fatalf("Head = %s, %v; want %s, true", h, ok, c1)
			}
			v1 := map[string]string{
				"orgs/acme.yaml":   "org: acme\nmodel: {repository: r/acme/pdm, version: v1}\n",
				"orgs/globex.yaml": "org: globex\nmodel: {repository: r/globex/pdm, version: v1}\n",
			}
			files, err := m.Files(ctxT(t), c1, "orgs", ".yaml")
			if err != nil {
				t.Fatalf("Files at c1: %v", err)
			}
			if diff := cmp.Diff(v1, fileMap(files)); diff != "" {
				t.Fatalf("Files at c1 (-want +got):\n%s", diff)
			}

			// Nothing moved: the remote is asked for its refs, nothing is transferred.
			objects := objectFiles(t, m.Dir())
			var reqs, packs int
			if e.http != nil {
				reqs, packs = e.http.Requests(), e.http.UploadPackRequests()
			}
			got = mustFetch(t, m)
			if diff := cmp.Diff(FetchResult{Commit: c1, Previous: c1}, got); diff != "" {
				t.Fatalf("no-change Fetch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(objects, objectFiles(t, m.Dir())); diff != "" {
				t.Fatalf("no-change Fetch stored objects (-before +after):\n%s", diff)
			}
			if e.http != nil {
				if n := e.http.Requests() - reqs; n != 1 {
					t.Errorf("no-change Fetch made %d HTTP requests; want 1 (the ref listing)", n)
				}
				if n := e.http.UploadPackRequests() - packs; n != 0 {
					t.Errorf("no-change Fetch made %d upload-pack requests; want 0", n)
				}
			}

			// A person bumps acme, adds initech and removes globex.
			c.Write("orgs/acme.yaml", "org: acme\nmodel: {repository: r/acme/pdm, version: v2}\n")
			c.Write("orgs/initech.yaml", "org: initech\nmodel: {repository: r/initech/pdm, version: v7}\n")
			c.Remove("orgs/globex.yaml")
			c2 := plumbing.NewHash(c.Commit("Bump acme to v2, add initech, drop globex"))
			c.Push()
			got = mustFetch(t, m)
			if diff := cmp.Diff(FetchResult{Commit: c2, Previous: c1, Changed: true, Fetched: true}, got); diff != "" {
				t.Fatalf("Fetch after push (-want +got):\n%s", diff)
			}
			if len(objectFiles(t, m.Dir())) <= len(objects) {
				t.Errorf("Fetch after push stored no new object files")
			}
			files, err = m.Files(ctxT(t), c2, "orgs", ".yaml")
			if err != nil {
				t.Fatalf("Files at c2: %v", err)
			}
			want2 := map[string]string{
				"orgs/acme.yaml":    "org: acme\nmodel: {repository: r/acme/pdm, version: v2}\n",
				"orgs/initech.yaml": "org: initech\nmodel: {repository: r/initech/pdm, version: v7}\n",
			}
			if diff := cmp.Diff(want2, fileMap(files)); diff != "" {
				t.Fatalf("Files at c2 (-want +got):\n%s", diff)
			}
			// The old commit is still readable.
			files, err = m.Files(ctxT(t), c1, "orgs", ".yaml")
			if err != nil {
				t.Fatalf("Files at c1 after c2: %v", err)
			}
			if diff := cmp.Diff(v1, fileMap(files)); diff != "" {
				t.Fatalf("Files at c1 after c2 (-want +got):\n%s", diff)
			}

			// Rollback is git revert: the tree is back to c1's, under a new commit.
			c3 := plumbing.NewHash(c.Revert(c2.String()))
			c.Push()
			got = mustFetch(t, m)
			if diff := cmp.Diff(FetchResult{Commit: c3, Previous: c2, Changed: true, Fetched: true}, got); diff != "" {
				t.Fatalf("Fetch after revert (-want +got):\n%s", diff)
			}
			files, err = m.Files(ctxT(t), c3, "orgs", ".yaml")
			if err != nil {
				t.Fatalf("Files at c3: %v", err)
			}
			if diff := cmp.Diff(v1, fileMap(files)); diff != "" {
				t.Fatalf("Files after revert (-want +got):\n%s", diff)
			}
			info, err := m.CommitInfo(ctxT(t), c3)
			if err != nil {
				t.Fatalf("CommitInfo: %v", err)
			}
			if !strings.HasPrefix(info.Subject, `Revert "Bump acme to v2`) {
				t.Errorf("revert subject = %q", info.Subject)
			}
		})
	}
}

// TestFetchFollowsForcePush rewrites the branch's history and expects the mirror to follow,
// while the abandoned commit stays readable.
func TestFetchFollowsForcePush(t *testing.T) {
	e := newRemote(t, "git")
	c := e.clone(t)
	c1 := seed(t, c)
	c.Write("orgs/acme.yaml", "org: acme\nmodel: {repository: r/acme/pdm, version: v2}\n")
	c2 := plumbing.NewHash(c.Commit("acme v2"))
	c.Push()

	m := openMirror(t, e.url)
	if got := mustFetch(t, m); got.Commit != c2 {
		t.Fatalf("Fetch = %s; want %s", got.Commit, c2)
	}

	c.Git("reset", "--hard", "--quiet", c1.String())
	c.Write("orgs/acme.yaml", "org: acme\nmodel: {repository: r/acme/pdm, version: v3}\n")
	c3 := plumbing.NewHash(c.Commit("acme v3, history rewritten"))
	c.ForcePush()

	got := mustFetch(t, m)
	if diff := cmp.Diff(FetchResult{Commit: c3, Previous: c2, Changed: true, Fetched: true}, got); diff != "" {
		t.Fatalf("Fetch after force-push (-want +got):\n%s", diff)
	}
	for commit, want := range map[plumbing.Hash]string{c3: "v3", c2: "v2", c1: "v1"} {
		data, err := m.ReadFile(ctxT(t), commit, "orgs/acme.yaml")
		if err != nil {
			t.Fatalf("ReadFile at %s: %v", ShortHash(commit), err)
		}
		if !strings.Contains(string(data), "version: "+want) {
			t.Errorf("orgs/acme.yaml at %s = %q; want version %s", ShortHash(commit), data, want)
		}
	}

	// Force-pushing back to a commit the mirror already holds moves the head without
	// transferring a pack.
	c.Git("reset", "--hard", "--quiet", c2.String())
	c.ForcePush()
	got = mustFetch(t, m)
	if diff := cmp.Diff(FetchResult{Commit: c2, Previous: c3, Changed: true, Fetched: true}, got); diff != "" {
		t.Fatalf("Fetch after force-push back (-want +got):\n%s", diff)
	}
}

// TestReopenMirror restarts with an existing mirror: the head is restored from the ref and a
// fetch with nothing moved is a no-op; a changed URL is written to the mirror's config.
func TestReopenMirror(t *testing.T) {
	e := newRemote(t, "git")
	c1 := seed(t, e.clone(t))
	m := openMirror(t, e.url)
	mustFetch(t, m)
	objects := objectFiles(t, m.Dir())

	httpURL := e.httpURL(t)
	for _, tc := range []struct{ name, url string }{{"same URL", e.url}, {"new URL", httpURL}} {
		t.Run(tc.name, func(t *testing.T) {
			m2, err := Open(ctxT(t), m.Dir(), tc.url)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			closeAtEnd(t, m2)
			if h, ok := m2.Head(); !ok || h != c1 {
				t.Fatalf("Head after reopen = %s, %v; want %s, true", h, ok, c1)
			}
			got := mustFetch(t, m2)
			if diff := cmp.Diff(FetchResult{Commit: c1, Previous: c1}, got); diff != "" {
				t.Fatalf("Fetch after reopen (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(objects, objectFiles(t, m.Dir())); diff != "" {
				t.Fatalf("Fetch after reopen stored objects (-before +after):\n%s", diff)
			}
			if got := gitConfig(t, m.Dir(), "remote.origin.url"); got != tc.url {
				t.Errorf("remote.origin.url = %q; want %q", got, tc.url)
			}
		})
	}
}
