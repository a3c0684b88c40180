package gitops

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// BenchmarkFetchNoChange measures a poll when nothing moved, against git daemon. Baselines in
// the same run: go-git's own Fetch of the same refspec (which also ends in "already up to
// date") and `git fetch` with the CLI in a bare mirror.
func BenchmarkFetchNoChange(b *testing.B) {
	root := b.TempDir()
	bare := gittest.NewBareRepo(b, root, "config")
	c := gittest.Clone(b, bare, filepath.Join(b.TempDir(), "work"))
	for i := range 20 { // a little history, so the pack is not trivial
		c.Write("orgs/acme.yaml", "org: acme\nrev: "+string(rune('a'+i))+"\n")
		c.Commit("rev")
	}
	c.Push()
	url := gittest.StartDaemon(b, root) + "/config.git"
	ctx := context.Background()

	b.Run("talon", func(b *testing.B) {
		m, err := Open(ctx, filepath.Join(b.TempDir(), "mirror"), url)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Fetch(ctx); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			res, err := m.Fetch(ctx)
			if err != nil || res.Changed || res.Fetched {
				b.Fatalf("Fetch = %+v, %v; want no change, nothing fetched", res, err)
			}
		}
	})

	b.Run("go-git-fetch", func(b *testing.B) {
		m, err := Open(ctx, filepath.Join(b.TempDir(), "mirror"), url)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Fetch(ctx); err != nil {
			b.Fatal(err)
		}
		remote := m.remote()
		opts := &git.FetchOptions{RefSpecs: []config.RefSpec{m.refSpec()}, Tags: git.NoTags, Force: true}
		for b.Loop() {
			if err := remote.FetchContext(ctx, opts); !errors.Is(err, git.NoErrAlreadyUpToDate) {
				b.Fatalf("go-git Fetch: %v; want already up to date", err)
			}
		}
	})

	b.Run("git-cli-fetch", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "mirror.git")
		gittest.Git(b, root, "init", "--quiet", "--bare", dir)
		fetch := []string{"fetch", "--quiet", "--no-tags", url, "+refs/heads/main:refs/remotes/origin/main"}
		gittest.Git(b, dir, fetch...)
		env := gittest.Env()
		for b.Loop() {
			cmd := exec.Command("git", fetch...)
			cmd.Dir, cmd.Env = dir, env
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("git fetch: %v: %s", err, out)
			}
		}
	})
}

// BenchmarkFetchNewCommit measures picking up one pushed commit from git daemon, side by
// side in one loop: Fetch (a ref listing, then a fetch: two connections) and FetchHint given
// the pushed commit, as a push webhook names it (one connection). The pushes are not timed.
// ns/op is both fetches; "ratio" is hinted / Fetch.
func BenchmarkFetchNewCommit(b *testing.B) {
	root := b.TempDir()
	bare := gittest.NewBareRepo(b, root, "config")
	c := gittest.Clone(b, bare, filepath.Join(b.TempDir(), "work"))
	rev := 0
	push := func() plumbing.Hash {
		rev++
		c.Write("orgs/acme.yaml", fmt.Sprintf("org: acme\nrev: %d\n", rev))
		h := plumbing.NewHash(c.Commit("rev"))
		c.Push()
		return h
	}
	for range 20 { // a little history, so the pack is not trivial
		push()
	}
	url := gittest.StartDaemon(b, root) + "/config.git"
	ctx := context.Background()
	m, err := Open(ctx, filepath.Join(b.TempDir(), "mirror"), url)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Fetch(ctx); err != nil {
		b.Fatal(err)
	}
	check := func(res FetchResult, err error, want plumbing.Hash) {
		if err != nil || res.Commit != want || !res.Changed {
			b.Fatalf("fetch = %+v, %v; want %s, changed", res, err, ShortHash(want))
		}
	}
	var listed, hinted time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		want := push()
		b.StartTimer()
		start := time.Now()
		res, err := m.Fetch(ctx)
		listed += time.Since(start)
		check(res, err, want)

		b.StopTimer()
		want = push()
		b.StartTimer()
		start = time.Now()
		res, err = m.FetchHint(ctx, want)
		hinted += time.Since(start)
		check(res, err, want)
		n++
	}
	b.ReportMetric(float64(listed.Microseconds())/1000/float64(n), "ms/fetch")
	b.ReportMetric(float64(hinted.Microseconds())/1000/float64(n), "ms/hinted")
	b.ReportMetric(float64(hinted)/float64(listed), "ratio")
}
