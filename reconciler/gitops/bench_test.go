package gitops

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"

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
