package gitops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem"

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
// ns/op is both fetches; "ratio" is hinted / Fetch. Every fetch brings a commit, so the
// mirror repacks after the one that leaves four times DefaultPackLimit packs, within it.
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

// manyPacks is the pack count of a mirror that has run for a while without repacking.
const manyPacks = 200

// withStorage replaces the mirror's go-git storage options, to compare them.
func withStorage(so filesystem.Options) Option {
	return func(o *options) error {
		o.storage = &so
		return nil
	}
}

// packVariant is one mirror of a side-by-side pack benchmark.
type packVariant struct {
	name    string // packs and storage options, as reported
	m       *Mirror
	onePack bool // repack to one pack (untimed) before each operation
	d       time.Duration
}

// packHistory pushes manyPacks commits to a new bare repository served by git daemon,
// builds a mirror that fetched them one by one (one pack each), and returns the clone,
// the URL, the mirror's directory and the commits.
func packHistory(b *testing.B) (*gittest.WorkClone, string, string, []plumbing.Hash) {
	root := b.TempDir()
	bare := gittest.NewBareRepo(b, root, "config")
	c := gittest.Clone(b, bare, filepath.Join(b.TempDir(), "work"))
	var revs []string
	for i := range manyPacks {
		c.Write("orgs/acme.yaml", fmt.Sprintf("org: acme\nrev: %d\n", i))
		c.Write(fmt.Sprintf("orgs/o%03d.yaml", i%40), fmt.Sprintf("org: o%03d\nrev: %d\n", i%40, i))
		revs = append(revs, c.Commit("rev"))
	}
	c.Push()
	url := gittest.StartDaemon(b, root) + "/config.git"
	dir := filepath.Join(b.TempDir(), "mirror")
	m, err := Open(b.Context(), dir, url, WithPackLimit(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var hashes []plumbing.Hash
	for _, r := range revs { // move the branch one commit at a time, fetching each
		gittest.Git(b, bare, "update-ref", "refs/heads/main", r)
		if res, err := m.Fetch(b.Context()); err != nil || res.Commit.String() != r {
			b.Fatalf("Fetch = %+v, %v; want %s", res, err, r)
		}
		hashes = append(hashes, plumbing.NewHash(r))
	}
	if n, _ := m.listPacks(); len(n) != manyPacks {
		b.Fatalf("%d packs; want %d", len(n), manyPacks)
	}
	return c, url, dir, hashes
}

// packVariants copies the mirror at dir five ways: manyPacks packs, with go-git's default
// storage options, with KeepDescriptors, and with the mirror's (at the default pack
// limit: up to 129 packs kept open); and repacked to one, with the default options and
// the mirror's.
func packVariants(b *testing.B, dir, url string) []*packVariant {
	var vs []*packVariant
	for _, v := range []struct {
		packs, limit int
		so           filesystem.Options
		name         string
	}{
		{manyPacks, 1 << 20, filesystem.Options{}, "default"},
		{manyPacks, 1 << 20, filesystem.Options{KeepDescriptors: true}, "keep"},
		{manyPacks, 1 << 20, storageOptions(DefaultPackLimit), "mirror"},
		{1, 1, filesystem.Options{}, "default"},
		{1, 1, storageOptions(DefaultPackLimit), "mirror"},
	} {
		cp := filepath.Join(b.TempDir(), "mirror")
		if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
			b.Fatal(err)
		}
		m, err := Open(b.Context(), cp, url, WithPackLimit(v.limit), withStorage(v.so))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close() })
		pv := &packVariant{name: fmt.Sprintf("%dp-%s", v.packs, v.name), m: m, onePack: v.packs == 1}
		pv.repack(b)
		vs = append(vs, pv)
	}
	return vs
}

// repack brings a one-pack variant back to one pack.
func (v *packVariant) repack(b *testing.B) {
	if v.onePack {
		if err := v.m.Maintain(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// sideBySide runs rounds of op on every variant in a rotating order, timing each, then
// reports the mean ms of each and each one's ratio to the first (manyPacks packs, default
// options: the mirror before this change). round, untimed, prepares round n.
func sideBySide(b *testing.B, vs []*packVariant, round func(n int), op func(v *packVariant, n int)) {
	n := 0
	for b.Loop() {
		b.StopTimer()
		round(n)
		b.StartTimer()
		for i := range vs {
			v := vs[(i+n)%len(vs)]
			b.StopTimer()
			v.repack(b)
			b.StartTimer()
			start := time.Now()
			op(v, n)
			v.d += time.Since(start)
		}
		n++
	}
	for _, v := range vs {
		b.ReportMetric(float64(v.d.Microseconds())/1000/float64(n), "ms/"+v.name)
		if v != vs[0] {
			b.ReportMetric(float64(v.d)/float64(vs[0].d), v.name+"/"+vs[0].name)
		}
	}
}

// BenchmarkPackRead reads the whole tree of a commit (Snapshot, then every file through
// its FS), a different one of the manyPacks commits each time, from the mirrors of
// packVariants. Side by side in one loop; ratios are to 200p-default, the mirror before
// repacking and open packs.
func BenchmarkPackRead(b *testing.B) {
	_, url, dir, revs := packHistory(b)
	vs := packVariants(b, dir, url)
	sideBySide(b, vs, func(int) {}, func(v *packVariant, n int) {
		snap, err := v.m.Snapshot(b.Context(), revs[(n*7)%len(revs)])
		if err != nil {
			b.Fatal(err)
		}
		files := 0
		err = fs.WalkDir(snap.FS(b.Context()), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			files++
			_, err = fs.ReadFile(snap.FS(b.Context()), p)
			return err
		})
		if err != nil || files < 2 {
			b.Fatalf("read %d files: %v", files, err)
		}
	})
}

// BenchmarkPackFetch fetches one pushed commit from git daemon, hinted (as a push webhook
// triggers it), into the mirrors of packVariants. The push and the repack that
// keeps the one-pack mirrors at one pack are not timed; the manyPacks mirrors gain a pack
// per iteration. Most of the time is the server's.
func BenchmarkPackFetch(b *testing.B) {
	c, url, dir, _ := packHistory(b)
	vs := packVariants(b, dir, url)
	var want plumbing.Hash
	push := func(n int) {
		c.Write("orgs/acme.yaml", fmt.Sprintf("org: acme\nbench: %d\n", n))
		want = plumbing.NewHash(c.Commit("bench"))
		c.Push()
	}
	sideBySide(b, vs, push, func(v *packVariant, _ int) {
		res, err := v.m.FetchHint(b.Context(), want)
		if err != nil || res.Commit != want || !res.Changed {
			b.Fatalf("%s: FetchHint = %+v, %v; want %s, changed", v.name, res, err, ShortHash(want))
		}
	})
}

// BenchmarkRepack runs Maintain on fresh copies (not timed) of a mirror of manyPacks
// packs of one commit each, which it merges into one, and of a mirror of one large pack
// (those manyPacks commits, repacked) and DefaultPackLimit+1 one-commit packs, of which
// it merges only the small ones.
func BenchmarkRepack(b *testing.B) {
	c, url, dir, _ := packHistory(b)
	b.Run(fmt.Sprintf("%d-small", manyPacks), func(b *testing.B) { benchRepack(b, dir, url, 1) })

	large := filepath.Join(b.TempDir(), "mirror")
	if err := os.CopyFS(large, os.DirFS(dir)); err != nil {
		b.Fatal(err)
	}
	m, err := Open(b.Context(), large, url, WithPackLimit(1))
	if err == nil {
		err = m.Maintain(b.Context())
		m.Close()
	}
	if err == nil { // and now never repack while the small packs come in
		m, err = Open(b.Context(), large, url, WithPackLimit(1<<20))
	}
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for i := range DefaultPackLimit + 1 {
		c.Write("orgs/acme.yaml", fmt.Sprintf("org: acme\nlarge: %d\n", i))
		c.Commit("more")
		c.Push()
		if _, err := m.Fetch(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run(fmt.Sprintf("1-large+%d-small", DefaultPackLimit+1), func(b *testing.B) { benchRepack(b, large, url, 2) })
}

// benchRepack times Maintain on copies of the mirror at dir, which must leave want packs.
// Each copy has read its head first, as a mirror in use has: go-git has loaded the pack
// indexes.
func benchRepack(b *testing.B, dir, url string, want int) {
	for b.Loop() {
		b.StopTimer()
		cp := filepath.Join(b.TempDir(), "mirror")
		if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
			b.Fatal(err)
		}
		m, err := Open(b.Context(), cp, url)
		if err == nil {
			head, _ := m.Head()
			_, err = m.CommitInfo(b.Context(), head)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := m.Maintain(b.Context()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if n, _ := m.listPacks(); len(n) != want {
			b.Fatalf("%d packs after Maintain; want %d", len(n), want)
		}
		m.Close()
		b.StartTimer()
	}
}
