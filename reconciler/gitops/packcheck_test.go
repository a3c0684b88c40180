package gitops

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// damages are what a power loss can leave of the files go-git wrote without fsync, and a
// flipped bit for good measure.
var damages = map[string]func(t *testing.T, pack, idx string){
	"empty index":    func(t *testing.T, _, idx string) { truncate(t, idx, 0) },
	"short index":    func(t *testing.T, _, idx string) { truncate(t, idx, 1100) },
	"empty pack":     func(t *testing.T, pack, _ string) { truncate(t, pack, 0) },
	"short pack":     func(t *testing.T, pack, _ string) { truncate(t, pack, 40) },
	"pack bit flip":  func(t *testing.T, pack, _ string) { flip(t, pack, 20) },
	"index bit flip": func(t *testing.T, _, idx string) { flip(t, idx, 1100) },
	"zeroed pack":    func(t *testing.T, pack, _ string) { zero(t, pack) },
}

func truncate(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}

// zero overwrites the file at p with zeros, keeping its size (what a power loss can leave
// of a file whose blocks were allocated but never written).
func zero(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err == nil {
		err = os.WriteFile(p, make([]byte, fi.Size()), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, p string, at int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err == nil {
		b[at] ^= 0x10
		err = os.WriteFile(p, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenDropsDamagedPacks: a mirror whose pack or index was damaged on disk is repaired
// by Open (the damaged pair removed, the last fetched commit forgotten, the reason in
// Dropped), and the next Fetch brings the branch back, whether or not the remote moved
// meanwhile. Without the repair go-git fails on the damaged index at every fetch.
func TestOpenDropsDamagedPacks(t *testing.T) {
	for name, damage := range damages {
		for _, moved := range []bool{false, true} {
			t.Run(name+map[bool]string{false: ", remote unchanged", true: ", remote moved"}[moved], func(t *testing.T) {
				e := newRemote(t, "git")
				c := e.clone(t)
				want := seed(t, c)
				dir := filepath.Join(t.TempDir(), "mirror")
				m, err := Open(ctxT(t), dir, e.url)
				if err != nil {
					t.Fatal(err)
				}
				mustFetch(t, m)
				packs, err := m.listPacks()
				if err != nil || len(packs) != 1 {
					t.Fatalf("packs after the first fetch: %v, %v; want one", packs, err)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				damage(t, m.packPath(packs[0], "pack"), m.packPath(packs[0], "idx"))
				if moved {
					c.Write("orgs/acme.yaml", "org: acme\nmodel: {repository: r/acme/pdm, version: v2}\n")
					want = plumbing.NewHash(c.Commit("acme v2"))
					c.Push()
				}

				m, err = Open(ctxT(t), dir, e.url)
				if err != nil {
					t.Fatalf("reopen: %v", err)
				}
				closeAtEnd(t, m)
				if d := m.Dropped(); len(d) != 1 || !strings.Contains(d[0], packs[0].String()) {
					t.Fatalf("Dropped = %q; want the damaged pack %s", d, packs[0])
				}
				if h, ok := m.Head(); ok {
					t.Fatalf("Head after the repair = %s; want none (the commit's objects were lost)", h)
				}
				res := mustFetch(t, m)
				if res.Commit != want || !res.Changed {
					t.Fatalf("Fetch after the repair = %+v; want %s, changed", res, want)
				}
				snap, err := m.Snapshot(ctxT(t), want)
				if err != nil {
					t.Fatalf("Snapshot after the repair: %v", err)
				}
				if b, err := snap.ReadFile(ctxT(t), "orgs/globex.yaml"); err != nil || !strings.HasPrefix(string(b), "org: globex") {
					t.Fatalf("orgs/globex.yaml after the repair = %q, %v", b, err)
				}
			})
		}
	}
}

// TestOpenKeepsSoundPacks: reopening a sound mirror drops nothing and keeps its head, with
// the packs of several incremental fetches (thin packs on the wire) in it.
func TestOpenKeepsSoundPacks(t *testing.T) {
	e := newRemote(t, "git")
	c := e.clone(t)
	want := seed(t, c)
	m := openMirror(t, e.url)
	mustFetch(t, m)
	for i := range 3 {
		c.Write("orgs/acme.yaml", fmt.Sprintf("org: acme\nmodel: {repository: r/acme/pdm, version: v%d}\n", i+2))
		want = plumbing.NewHash(c.Commit(fmt.Sprintf("acme v%d", i+2)))
		c.Push()
		mustFetch(t, m)
	}
	if packs, err := m.listPacks(); err != nil || len(packs) < 2 {
		t.Fatalf("packs after four fetches: %v, %v; want several", packs, err)
	}
	m2, err := Open(ctxT(t), m.Dir(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, m2)
	if d := m2.Dropped(); len(d) != 0 {
		t.Fatalf("Dropped = %q on a sound mirror", d)
	}
	if h, ok := m2.Head(); !ok || h != want {
		t.Fatalf("Head = %s, %v; want %s", h, ok, want)
	}
}
