package gitops

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// pushRev commits revision i of the config repo and pushes it: orgs/acme.yaml says rev i
// and each revision adds a file, so every commit has a tree of its own (i+2 entries in orgs).
func pushRev(t *testing.T, c *gittest.WorkClone, i int) plumbing.Hash {
	t.Helper()
	c.Write("orgs/acme.yaml", fmt.Sprintf("org: acme\nrev: %d\n", i))
	c.Write(fmt.Sprintf("orgs/o%03d.yaml", i), fmt.Sprintf("org: o%03d\n", i))
	h := plumbing.NewHash(c.Commit(fmt.Sprintf("rev %d", i)))
	c.Push()
	return h
}

// checkRev reads revision i at commit h through a Snapshot and its FS.
func checkRev(t *testing.T, m *Mirror, h plumbing.Hash, i int) {
	t.Helper()
	snap, err := m.Snapshot(ctxT(t), h)
	if err != nil {
		t.Fatalf("Snapshot of rev %d: %v", i, err)
	}
	fsys := snap.FS(ctxT(t))
	data, err := fs.ReadFile(fsys, "orgs/acme.yaml")
	if want := fmt.Sprintf("org: acme\nrev: %d\n", i); err != nil || string(data) != want {
		t.Fatalf("orgs/acme.yaml at rev %d = %q, %v; want %q", i, data, err, want)
	}
	entries, err := fs.ReadDir(fsys, "orgs")
	if err != nil || len(entries) != i+2 {
		t.Fatalf("ReadDir(orgs) at rev %d = %d entries, %v; want %d", i, len(entries), err, i+2)
	}
}

// fetchRevs pushes revisions from..to-1, fetching each one as it lands (FetchHint with its
// commit, or Fetch, in turn) and reading it at once; after is called after each fetch.
func fetchRevs(t *testing.T, m *Mirror, c *gittest.WorkClone, from, to int, after func(i int)) []plumbing.Hash {
	t.Helper()
	var revs []plumbing.Hash
	for i := from; i < to; i++ {
		want := pushRev(t, c, i)
		var res FetchResult
		var err error
		if i%2 == 0 {
			res, err = m.FetchHint(ctxT(t), want)
		} else {
			res, err = m.Fetch(ctxT(t))
		}
		if err != nil || res.Commit != want || !res.Changed || res.MaintainErr != nil {
			t.Fatalf("fetch rev %d = %+v, %v; want %s, changed", i, res, err, ShortHash(want))
		}
		checkRev(t, m, want, i)
		revs = append(revs, want)
		if after != nil {
			after(i)
		}
	}
	return revs
}

// packDirState counts the packs (with their index) in the mirror at dir, the temporary
// packs, and the indexes without a pack.
func packDirState(t *testing.T, dir string) (packs, temps, orphans int) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "objects", "pack"))
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, e := range entries {
		has[e.Name()] = true
	}
	for name := range has {
		base := strings.TrimSuffix(strings.TrimSuffix(name, ".pack"), ".idx")
		switch {
		case strings.HasPrefix(name, "tmp_pack_"):
			temps++
		case strings.HasSuffix(name, ".pack") && has[base+".idx"]:
			packs++
		case strings.HasSuffix(name, ".idx") && !has[base+".pack"]:
			orphans++
		}
	}
	return packs, temps, orphans
}

func countPacks(t *testing.T, dir string) int {
	t.Helper()
	n, _, _ := packDirState(t, dir)
	return n
}

// packFDs counts this process's open descriptors on pack files of the mirror at dir, and
// those of them whose file was deleted. It reads /proc/self/fd; the test skips without it.
func packFDs(t *testing.T, dir string) (open, deleted int) {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd to count descriptors: %v", err)
	}
	packDir := filepath.Join(dir, "objects", "pack") + string(filepath.Separator)
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil || !strings.HasPrefix(target, packDir) {
			continue
		}
		open++
		if strings.HasSuffix(target, " (deleted)") {
			deleted++
		}
	}
	return open, deleted
}

// fsck checks the mirror's object store with the git CLI.
func fsck(t *testing.T, dir string) {
	t.Helper()
	gittest.Git(t, dir, "fsck", "--full", "--strict", "--no-dangling")
}

// TestRepackAfterManyFetches fetches 101 commits one by one from git daemon (one pack
// each), then polls with nothing new: that poll consolidates the packs, and every commit,
// a Snapshot taken before, and a reopened mirror still read right.
func TestRepackAfterManyFetches(t *testing.T) {
	e := newRemote(t, "git")
	c := e.clone(t)
	m := openMirror(t, e.url)
	revs := fetchRevs(t, m, c, 0, 101, nil)
	if n := countPacks(t, m.Dir()); n != len(revs) {
		t.Fatalf("%d packs after %d fetches; want one per fetch", n, len(revs))
	}
	if open, _ := packFDs(t, m.Dir()); open < 2 {
		t.Errorf("%d pack descriptors open after reading from %d packs; want them kept open", open, len(revs))
	}
	last := revs[len(revs)-1]
	before, err := m.Snapshot(ctxT(t), revs[50])
	if err != nil {
		t.Fatal(err)
	}

	got := mustFetch(t, m)
	if diff := cmp.Diff(FetchResult{Commit: last, Previous: last}, got); diff != "" {
		t.Fatalf("poll with nothing new (-want +got):\n%s", diff)
	}
	if n := countPacks(t, m.Dir()); n != 1 {
		t.Fatalf("%d packs after the poll; want 1 (limit %d)", n, DefaultPackLimit)
	}
	if _, deleted := packFDs(t, m.Dir()); deleted != 0 {
		t.Errorf("%d descriptors still open on deleted packs after the repack", deleted)
	}
	for i, h := range revs {
		checkRev(t, m, h, i)
	}
	if data, err := before.ReadFile(ctxT(t), "orgs/o042.yaml"); err != nil || string(data) != "org: o042\n" {
		t.Errorf("Snapshot taken before the repack: ReadFile = %q, %v", data, err)
	}
	if h, ok := m.Head(); !ok || h != last {
		t.Errorf("Head = %s, %v; want %s", h, ok, ShortHash(last))
	}
	fsck(t, m.Dir())
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if open, _ := packFDs(t, m.Dir()); open != 0 {
		t.Errorf("%d pack descriptors open after Close; want 0", open)
	}

	big := packNames(t, m.Dir())

	// Reopened, it goes on fetching; the next repack leaves the large pack alone.
	m2, err := Open(ctxT(t), m.Dir(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, m2)
	for i, h := range revs {
		checkRev(t, m2, h, i)
	}
	revs = append(revs, fetchRevs(t, m2, c, len(revs), len(revs)+DefaultPackLimit, nil)...)
	if got := mustFetch(t, m2); got.Commit != revs[len(revs)-1] || got.Changed || got.MaintainErr != nil {
		t.Fatalf("poll with nothing new = %+v", got)
	}
	packs := packNames(t, m.Dir())
	if len(packs) != 2 || !slices.Contains(packs, big[0]) {
		t.Fatalf("packs after the second repack = %v; want %v and one more", packs, big)
	}
	for i, h := range revs {
		checkRev(t, m2, h, i)
	}
	fsck(t, m.Dir())
}

// packNames lists the pack files of the mirror at dir.
func packNames(t *testing.T, dir string) []string {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "pack-*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return packs
}

// TestMergeSet picks the packs a repack merges (a repack runs with more packs than the
// limit).
func TestMergeSet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts []int64
		limit  int
		merged int // how many of the smallest packs are merged
	}{
		{"equal packs", []int64{5, 5, 5, 5, 5}, 4, 5},
		{"one large pack", []int64{5, 500, 5, 5, 5, 5}, 4, 5},
		{"large, not large enough", []int64{5, 20, 5, 5, 5, 5}, 4, 6},
		{"geometric", []int64{1, 25, 1, 1, 100, 1, 1, 50, 1, 1}, 8, 7},
		{"capped at half the limit", []int64{1, 25, 1, 1, 100, 1, 1, 50, 1, 1}, 4, 9},
		{"stops at the first small one", append([]int64{100, 50, 10, 25}, slices.Repeat([]int64{1}, 14)...), 16, 15},
		{"limit 2 merges all", []int64{500, 5, 5}, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var packs []packIndex
			for i, n := range tc.counts {
				packs = append(packs, packIndex{hash: plumbing.NewHash(fmt.Sprintf("%040x", i)), count: n})
			}
			merge := mergeSet(packs, tc.limit)
			if len(merge) != tc.merged {
				t.Fatalf("mergeSet merges %d packs; want %d", len(merge), tc.merged)
			}
			var kept []int64
			for _, p := range packs[:len(packs)-len(merge)] {
				kept = append(kept, p.count)
			}
			for _, p := range merge {
				if len(kept) > 0 && p.count > kept[len(kept)-1] {
					t.Errorf("merges a pack of %d objects but keeps one of %d", p.count, kept[len(kept)-1])
				}
			}
		})
	}
}

// TestRepackHardLimit fetches a commit on every poll: with no quiet poll to repack on, Fetch
// repacks right after the fetch that leaves more than four times the limit.
func TestRepackHardLimit(t *testing.T) {
	e := newRemote(t, "path")
	c := e.clone(t)
	m := openMirror(t, e.url, WithPackLimit(2))
	var counts, want []int
	revs := fetchRevs(t, m, c, 0, 19, func(i int) {
		counts = append(counts, countPacks(t, m.Dir()))
		want = append(want, i%(packHardFactor*2)+1)
	})
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Fatalf("packs after each fetch (-want +got):\n%s", diff)
	}
	for i, h := range revs {
		checkRev(t, m, h, i)
	}
	fsck(t, m.Dir())
}

// TestMaintainKeepsUnreachable repacks after a force push: the commit the push dropped
// from the branch stays readable. Below the limit Maintain leaves the packs alone.
func TestMaintainKeepsUnreachable(t *testing.T) {
	e := newRemote(t, "git")
	c := e.clone(t)
	m := openMirror(t, e.url, WithPackLimit(2))
	revs := fetchRevs(t, m, c, 0, 2, nil)
	c.Git("reset", "--hard", "--quiet", revs[0].String())
	c.Write("orgs/acme.yaml", "org: acme\nrewritten\n")
	c3 := plumbing.NewHash(c.Commit("rewritten"))
	c.ForcePush()
	if got := mustFetch(t, m); got.Commit != c3 || got.MaintainErr != nil {
		t.Fatalf("Fetch after force push = %+v; want %s", got, ShortHash(c3))
	}
	if n := countPacks(t, m.Dir()); n != 3 {
		t.Fatalf("%d packs; want 3", n)
	}
	if err := m.Maintain(ctxT(t)); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	packs := objectFiles(t, m.Dir())
	if len(packs) != 2 { // one .pack, one .idx
		t.Fatalf("objects after Maintain = %v; want one pack", packs)
	}
	checkRev(t, m, revs[1], 1) // no longer on the branch
	if data, err := m.ReadFile(ctxT(t), c3, "orgs/acme.yaml"); err != nil || string(data) != "org: acme\nrewritten\n" {
		t.Errorf("ReadFile at the new head = %q, %v", data, err)
	}
	if err := m.Maintain(ctxT(t)); err != nil {
		t.Fatalf("Maintain again: %v", err)
	}
	if diff := cmp.Diff(packs, objectFiles(t, m.Dir())); diff != "" {
		t.Errorf("Maintain under the limit rewrote packs (-before +after):\n%s", diff)
	}
	fsck(t, m.Dir())
}
