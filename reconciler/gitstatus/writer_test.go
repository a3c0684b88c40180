package gitstatus

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/reconciler/gitops"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// server is a config repository served by git daemon.
type server struct {
	bare, url string
}

func newServer(t testing.TB) server {
	root := t.TempDir()
	bare := gittest.NewBareRepo(t, root, "config")
	return server{bare: bare, url: gittest.StartDaemon(t, root) + "/config.git"}
}

func (s server) git(t testing.TB, args ...string) string { return gittest.Git(t, s.bare, args...) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
	on func() // called once per reading, if set
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	on := c.on
	t := c.t
	c.mu.Unlock()
	if on != nil {
		on()
	}
	return t
}

func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func newWriter(t testing.TB, url, replica string, opts ...Option) *Writer {
	t.Helper()
	w, err := New(url, nil, "", replica, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func deployedStatus(version string) Status {
	return Status{ObservedCommit: "3f2a1c9d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49", Phase: PhaseDeployed,
		Desired:  Desired{Reference: "registry.example.com/acme/pdm:" + version, Digest: "sha256:" + strings.Repeat("ab", 32)},
		Deployed: Deployed{Version: version, Digest: "sha256:" + strings.Repeat("ab", 32)}}
}

// TestPublishLifecycle: the first publish into an empty repository makes an orphan branch;
// a pass that changes nothing, or only the time, makes no commit; a change makes exactly
// one commit with a descriptive message; an org that disappears loses its file.
func TestPublishLifecycle(t *testing.T) {
	srv := newServer(t)
	ctx := ctxT(t)
	clk := &clock{t: t0}
	w := newWriter(t, srv.url, "pod-a", WithClock(clk.now))

	first, changed, err := w.Publish(ctx, map[string]Status{"acme": deployedStatus("1.4.2"), "globex": {Phase: PhaseValidating}})
	if err != nil || !changed {
		t.Fatalf("first Publish = %s, %v, %v", first, changed, err)
	}
	if got := srv.git(t, "rev-list", "--parents", DefaultBranch); got != first {
		t.Fatalf("status branch history = %q; want the orphan %s alone", got, first)
	}
	file := srv.git(t, "show", DefaultBranch+":status/acme/pod-a.yaml") + "\n"
	want, _ := Render("acme", "pod-a", stabilize(nil, deployedStatus("1.4.2"), t0))
	if diff := cmp.Diff(string(want), file); diff != "" {
		t.Errorf("status/acme/pod-a.yaml (-want +got):\n%s", diff)
	}

	clk.set(t0.Add(time.Hour)) // only time passes; the caller even sends fresh timestamps
	again := deployedStatus("1.4.2")
	again.LastTransition, again.Deployed.Since = t0.Add(time.Hour), t0.Add(time.Hour)
	head, changed, err := w.Publish(ctx, map[string]Status{"acme": again, "globex": {Phase: PhaseValidating}})
	if err != nil || changed || head != first {
		t.Fatalf("unchanged Publish = %s, %v, %v; want %s, false", head, changed, err, first)
	}

	w2 := newWriter(t, srv.url, "pod-a", WithClock(clk.now)) // a restarted replica reads its files back
	if _, changed, err := w2.Publish(ctx, map[string]Status{"acme": deployedStatus("1.4.2"), "globex": {Phase: PhaseValidating}}); err != nil || changed {
		t.Fatalf("restarted unchanged Publish: changed %v, %v", changed, err)
	}

	clk.set(t0.Add(2 * time.Hour))
	failed := Status{ObservedCommit: "9e9e9e9aaaa", Phase: PhaseFailed, Desired: Desired{Reference: "registry.example.com/globex/pdm:2.0.0"},
		LastError: "accuracy 0.61 below 0.9"}
	second, changed, err := w.Publish(ctx, map[string]Status{"acme": deployedStatus("1.4.2"), "globex": failed})
	if err != nil || !changed {
		t.Fatalf("changed Publish = %v, %v", changed, err)
	}
	if got := srv.git(t, "rev-parse", second+"^"); got != first {
		t.Errorf("parent of %s = %s; want %s", second, got, first)
	}
	if got := srv.git(t, "log", "-1", "--format=%s", second); got != "globex: failed 2.0.0 from config 9e9e9e9: accuracy 0.61 below 0.9" {
		t.Errorf("subject = %q", got)
	}
	if got := srv.git(t, "diff", "--name-only", first, second); got != "status/globex/pod-a.yaml" {
		t.Errorf("files changed = %q; want only globex's", got)
	}
	_, _, back, err := Parse([]byte(srv.git(t, "show", second+":status/globex/pod-a.yaml")))
	if err != nil || !back.LastTransition.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("globex lastTransition = %v, %v; want the time of the change", back.LastTransition, err)
	}

	third, changed, err := w.Publish(ctx, map[string]Status{"acme": deployedStatus("1.4.2")})
	if err != nil || !changed {
		t.Fatalf("Publish without globex = %v, %v", changed, err)
	}
	if got := srv.git(t, "ls-tree", "-r", "--name-only", third); got != "status/acme/pod-a.yaml" {
		t.Errorf("files after globex left = %q", got)
	}
	if got := srv.git(t, "rev-list", "--count", DefaultBranch); got != "3" {
		t.Errorf("status branch has %s commits; want 3", got)
	}
	if s := w.Stats(); s.Commits != 3 || s.Retries != 0 || s.Publishes != 4 {
		t.Errorf("Stats = %+v", s)
	}
}

// TestStatusBranchDoesNotTriggerReconcile: publishing leaves the tracked branch alone, and a
// mirror of it sees no change and fetches nothing.
func TestStatusBranchDoesNotTriggerReconcile(t *testing.T) {
	srv := newServer(t)
	ctx := ctxT(t)
	wc := gittest.Clone(t, srv.url, filepath.Join(t.TempDir(), "wc"))
	wc.Write("orgs/acme.yaml", "org: acme\n")
	main := wc.Commit("acme")
	wc.Push()
	m, err := gitops.Open(ctx, t.TempDir(), srv.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if _, err := m.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, srv.url, "pod-a")
	for _, v := range []string{"1.0.0", "1.0.1"} {
		if _, changed, err := w.Publish(ctx, map[string]Status{"acme": deployedStatus(v)}); err != nil || !changed {
			t.Fatalf("Publish %s = %v, %v", v, changed, err)
		}
	}
	res, err := m.Fetch(ctx)
	if err != nil || res.Changed || res.Fetched || res.Commit.String() != main {
		t.Errorf("mirror Fetch after status commits = %+v, %v; want unchanged %s, nothing fetched", res, err, main)
	}
	if got := srv.git(t, "rev-parse", "main"); got != main {
		t.Errorf("main moved to %s", got)
	}
	if got := srv.git(t, "rev-list", DefaultBranch); strings.Contains(got, main) || len(strings.Fields(got)) != 2 {
		t.Errorf("status branch history %q: want its 2 own commits, not main's", got)
	}
}
