package rollback

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// TestRevertNotClean: a later commit that changed the reverted lines (here only formatting,
// which is not a model change) makes the revert unclean, for git as for Talon; Talon names
// the file and the commit and pushes nothing.
func TestRevertNotClean(t *testing.T) {
	r := newRepo(t)
	r.commit("acme v1", map[string]string{"orgs/acme.yaml": org("acme", "v1", "")})
	bump := r.commit("acme v2", map[string]string{"orgs/acme.yaml": org("acme", "v2", ""), "NOTES.md": "v2\n"})
	quote := r.commit("acme: quote the version", map[string]string{"orgs/acme.yaml": strings.Replace(org("acme", "v2", ""), "version: v2", `version: "v2"`, 1)})
	if _, _, ok := r.cliRevert(bump); ok {
		t.Fatal("git reverts cleanly; the scenario is wrong")
	}
	before := r.head()
	_, err := Revert(ctxT(t), r.url, nil, "main", "acme")
	var nc *NotCleanError
	if !errors.As(err, &nc) || !errors.Is(err, ErrNotClean) {
		t.Fatalf("Revert = %v; want a *NotCleanError", err)
	}
	want := &NotCleanError{Org: "acme", Commit: bump, Subject: "acme v2", Files: []string{"orgs/acme.yaml"},
		Later: []string{quote[:7] + " acme: quote the version"}}
	if diff := cmp.Diff(want, nc); diff != "" {
		t.Errorf("NotCleanError (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "nothing was pushed") {
		t.Errorf("error does not say nothing changed: %v", err)
	}
	if r.head() != before {
		t.Errorf("main moved from %s to %s", before, r.head())
	}
}

// TestRevertTo: --to reverts successive changes, one commit each, like
// `git revert C3 C2`, pushed together; a version already asked for does nothing; one never
// reached pushes nothing.
func TestRevertTo(t *testing.T) {
	r := newRepo(t)
	r.commit("acme v1", map[string]string{"orgs/acme.yaml": org("acme", "v1", "")})
	v2 := r.commit("acme v2", map[string]string{"orgs/acme.yaml": org("acme", "v2", "")})
	r.commit("globex", map[string]string{"orgs/globex.yaml": org("globex", "g1", "")})
	v3 := r.commit("acme v3", map[string]string{"orgs/acme.yaml": org("acme", "v3", ""), "NOTES.md": "v3\n"})
	before := r.head()

	for _, to := range []string{"v9", "v0"} {
		if _, err := Revert(ctxT(t), r.url, nil, "main", "acme", WithTo(to)); !errors.Is(err, ErrVersionNotFound) {
			t.Errorf("--to %s = %v; want ErrVersionNotFound", to, err)
		}
	}
	res, err := Revert(ctxT(t), r.url, nil, "main", "acme", WithTo("v3"))
	if err != nil || len(res.Commits) != 0 || res.Head != before {
		t.Errorf("--to the current version = %+v, %v; want nothing done", res, err)
	}
	if r.head() != before {
		t.Fatalf("main moved to %s", r.head())
	}

	wantTree, wantMsgs, ok := r.cliRevert(v3, v2)
	if !ok {
		t.Fatal("git revert v3 v2 failed")
	}
	res, err = Revert(ctxT(t), r.url, nil, "main", "acme", WithTo("v1"))
	if err != nil {
		t.Fatal(err)
	}
	var reverted, msgs []string
	for _, c := range res.Commits {
		reverted = append(reverted, c.Reverts)
		msgs = append(msgs, r.message(c.Hash))
	}
	if diff := cmp.Diff([]string{v3, v2}, reverted); diff != "" {
		t.Errorf("reverted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantMsgs, msgs); diff != "" {
		t.Errorf("messages (-git +talon):\n%s", diff)
	}
	if tree := r.git("rev-parse", "main^{tree}"); tree != wantTree {
		t.Errorf("tree %s; git revert made %s", tree, wantTree)
	}
	if got := r.git("rev-list", "--count", before+"..main"); got != "2" || res.From != "registry.example.com/acme/pdm:v3" || res.To != "registry.example.com/acme/pdm:v1" {
		t.Errorf("%s new commits, Result %+v", got, res)
	}
}

func TestNothingToRevert(t *testing.T) {
	r := newRepo(t)
	r.commit("acme v1", map[string]string{"orgs/acme.yaml": org("acme", "v1", "")})
	r.commit("globex g1", map[string]string{"orgs/globex.yaml": org("globex", "g1", "")})
	r.commit("acme retention", map[string]string{"orgs/acme.yaml": org("acme", "v1", retention)})
	for _, org := range []string{"acme", "initech"} {
		if _, err := Revert(ctxT(t), r.url, nil, "main", org); !errors.Is(err, ErrNothingToRevert) {
			t.Errorf("Revert %s = %v; want ErrNothingToRevert", org, err)
		}
	}
	if _, err := Revert(ctxT(t), r.url, nil, "nope", "acme"); !errors.Is(err, ErrNothingToRevert) {
		t.Errorf("Revert on a missing branch = %v; want ErrNothingToRevert", err)
	}
	for _, bad := range []string{"Acme", "../acme", ""} {
		if _, err := Revert(ctxT(t), r.url, nil, "main", bad); err == nil {
			t.Errorf("Revert accepted org %q", bad)
		}
	}
}

// TestEvidenceAndAuthor: the automatic rollback's evidence follows git's two lines, and
// the configured identity signs the commit.
func TestEvidenceAndAuthor(t *testing.T) {
	r := newRepo(t)
	r.commit("acme v1", map[string]string{"orgs/acme.yaml": org("acme", "v1", "")})
	bump := r.commit("acme v2", map[string]string{"orgs/acme.yaml": org("acme", "v2", "")})
	evidence := "Degraded for 10m0s (degradedFor 5m0s):  \n  p99 latency 84ms > 50ms over 12:00-12:10Z\n\n\n\nDigest sha256:abc quarantined.\n"
	res, err := Revert(ctxT(t), r.url, nil, "main", "acme", WithEvidence(evidence), WithAuthor("Talon pod-a", "talon@acme.example"),
		WithIfVersion("v2"))
	if err != nil {
		t.Fatal(err)
	}
	want := "Revert \"acme v2\"\n\nThis reverts commit " + bump + ".\n\nDegraded for 10m0s (degradedFor 5m0s):\n" +
		"  p99 latency 84ms > 50ms over 12:00-12:10Z\n\nDigest sha256:abc quarantined."
	if got := r.message(res.Head); got != want {
		t.Errorf("message:\n%s\nwant:\n%s", got, want)
	}
	if got := r.git("log", "-1", "--format=%an <%ae>|%cn <%ce>"); got != "Talon pod-a <talon@acme.example>|Talon pod-a <talon@acme.example>" {
		t.Errorf("identity = %q", got)
	}
}

// TestRevertRace: the branch moves between Revert's read and its push (the clock is read in
// between); the revert is rebuilt on the new head, keeping the other commit.
func TestRevertRace(t *testing.T) {
	r := newRepo(t)
	r.commit("acme v1", map[string]string{"orgs/acme.yaml": org("acme", "v1", "")})
	bump := r.commit("acme v2", map[string]string{"orgs/acme.yaml": org("acme", "v2", "")})
	var other string
	var once sync.Once
	clock := func() time.Time {
		once.Do(func() { other = r.commit("globex", map[string]string{"orgs/globex.yaml": org("globex", "g1", "")}) })
		return time.Now()
	}
	res, err := Revert(ctxT(t), r.url, nil, "main", "acme", WithClock(clock), WithRetry(3, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || res.Commits[0].Reverts != bump {
		t.Errorf("Result = %+v; want 2 attempts reverting %s", res, bump)
	}
	if got := r.git("rev-parse", "main^"); got != other {
		t.Errorf("revert's parent = %s; want the racing commit %s", got, other)
	}
	if got := r.git("ls-tree", "--name-only", "-r", "main"); got != "orgs/acme.yaml\norgs/globex.yaml" {
		t.Errorf("files = %q", got)
	}
}

// TestConcurrentAutoRollbacks: replicas that all see v3 degrade each ask for a rollback
// guarded by WithIfVersion("v3"); exactly one revert lands. The others are told the desired
// model changed, or, when they built the very same commit (same tree, parent, identity and
// second), report that one commit.
func TestConcurrentAutoRollbacks(t *testing.T) {
	r := newRepo(t)
	r.commit("acme v2", map[string]string{"orgs/acme.yaml": org("acme", "v2", "")})
	r.commit("acme v3", map[string]string{"orgs/acme.yaml": org("acme", "v3", "")})
	before := r.head()
	const n = 4
	errs := make([]error, n)
	heads := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res Result
			res, errs[i] = Revert(ctxT(t), r.url, nil, "main", "acme", WithIfVersion("v3"),
				WithRetry(10, 10*time.Millisecond, 100*time.Millisecond))
			heads[i] = res.Head
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			if heads[i] != r.head() {
				t.Errorf("replica %d reports %s; main is %s", i, heads[i], r.head())
			}
		case !errors.Is(err, ErrDesiredChanged):
			t.Errorf("replica %d: %v; want success or ErrDesiredChanged", i, err)
		}
	}
	if ok < 1 || r.git("rev-list", "--count", before+"..main") != "1" {
		t.Errorf("%d rollbacks succeeded, %s commits added; want exactly 1 commit", ok, r.git("rev-list", "--count", before+"..main"))
	}
	if got := gittest.Git(t, r.bare, "show", "main:orgs/acme.yaml"); !strings.Contains(got, "version: v2") {
		t.Errorf("acme after rollback:\n%s", got)
	}
}
