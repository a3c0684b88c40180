package gitops

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// TestFilesLists checks which files Files returns for a dir and suffix.
func TestFilesLists(t *testing.T) {
	e := newRemote(t, "path")
	c1 := seed(t, e.clone(t))
	m := openMirror(t, e.url)
	mustFetch(t, m)
	snap, err := m.Snapshot(ctxT(t), c1)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	for _, tc := range []struct {
		dir, suffix string
		want        []string
	}{
		{"orgs", ".yaml", []string{"orgs/acme.yaml", "orgs/globex.yaml"}}, // not archive/, not notes.txt
		{"orgs", "", []string{"orgs/acme.yaml", "orgs/globex.yaml", "orgs/notes.txt"}},
		{"orgs/archive/", ".yaml", []string{"orgs/archive/old.yaml"}},
		{"", ".md", []string{"README.md"}},
		{".", ".md", []string{"README.md"}},
		{"orgs", ".json", nil},
	} {
		files, err := snap.Files(ctxT(t), tc.dir, tc.suffix)
		if err != nil {
			t.Errorf("Files(%q, %q): %v", tc.dir, tc.suffix, err)
			continue
		}
		var got []string
		for _, f := range files {
			got = append(got, f.Path)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Files(%q, %q) paths (-want +got):\n%s", tc.dir, tc.suffix, diff)
		}
	}
}

// TestReadBounds checks the per-file size bound: exactly at the bound is read, one byte over
// is an error naming the path.
func TestReadBounds(t *testing.T) {
	e := newRemote(t, "path")
	c := e.clone(t)
	writeBig(t, c, "at/max.yaml", DefaultMaxFileSize)
	writeBig(t, c, "over/huge.yaml", DefaultMaxFileSize+1)
	writeBig(t, c, "small/ok.yaml", 100)
	writeBig(t, c, "small/big.yaml", 101)
	head := plumbing.NewHash(c.Commit("sizes"))
	c.Push()

	for _, tc := range []struct {
		name     string
		opts     []Option
		dir      string
		wantSize []int  // sizes of the files listed, when no error
		errPath  string // path the error must name, "" for no error
	}{
		{"default at bound", nil, "at", []int{DefaultMaxFileSize}, ""},
		{"default over bound", nil, "over", nil, "over/huge.yaml"},
		{"small bound over", []Option{WithMaxFileSize(100)}, "small", nil, "small/big.yaml"},
		{"small bound fits", []Option{WithMaxFileSize(101)}, "small", []int{101, 100}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := openMirror(t, e.url, tc.opts...)
			mustFetch(t, m)
			files, err := m.Files(ctxT(t), head, tc.dir, ".yaml")
			if tc.errPath != "" {
				if !errors.Is(err, ErrFileTooLarge) || !strings.Contains(err.Error(), tc.errPath) {
					t.Fatalf("Files(%q) error = %v; want ErrFileTooLarge naming %s", tc.dir, err, tc.errPath)
				}
				_, err = m.ReadFile(ctxT(t), head, tc.errPath)
				if !errors.Is(err, ErrFileTooLarge) || !strings.Contains(err.Error(), tc.errPath) {
					t.Fatalf("ReadFile(%q) error = %v; want ErrFileTooLarge naming it", tc.errPath, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Files(%q): %v", tc.dir, err)
			}
			var sizes []int
			for _, f := range files {
				sizes = append(sizes, len(f.Data))
			}
			if diff := cmp.Diff(tc.wantSize, sizes); diff != "" {
				t.Errorf("sizes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadErrors checks reads that must fail: missing paths, directories, symlinks, paths
// leaving the tree, unknown commits.
func TestReadErrors(t *testing.T) {
	e := newRemote(t, "path")
	c := e.clone(t)
	seed(t, c)
	if err := os.MkdirAll(filepath.Join(c.Dir, "links"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../README.md", filepath.Join(c.Dir, "links", "readme.yaml")); err != nil {
		t.Fatal(err)
	}
	head := plumbing.NewHash(c.Commit("a symlink"))
	c.Push()
	m := openMirror(t, e.url)
	mustFetch(t, m)
	snap, err := m.Snapshot(ctxT(t), head)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	files := func(dir string) error { _, err := snap.Files(ctxT(t), dir, ".yaml"); return err }
	read := func(p string) error { _, err := snap.ReadFile(ctxT(t), p); return err }

	for _, tc := range []struct {
		name   string
		err    error
		is     error
		errHas string
	}{
		{"missing file", read("orgs/missing.yaml"), ErrNotExist, "orgs/missing.yaml"},
		{"missing dir", files("nope"), ErrNotExist, "nope/"},
		{"file as dir", files("README.md"), ErrNotExist, "README.md"},
		{"dir as file", read("orgs"), nil, "orgs at " + ShortHash(head) + " is a directory"},
		{"symlink listed", files("links"), nil, "links/readme.yaml at " + ShortHash(head) + " is a symlink"},
		{"symlink read", read("links/readme.yaml"), nil, "is a symlink"},
		{"dotdot", read("../etc/passwd"), nil, "without .."},
		{"dotdot inside", read("orgs/../../x"), nil, "without .."},
		{"absolute", files("/orgs"), nil, "relative"},
		{"backslash", read(`orgs\acme.yaml`), nil, "relative"},
		{"empty", read(""), nil, "names no file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatalf("no error; want one mentioning %q", tc.errHas)
			}
			if tc.is != nil && !errors.Is(tc.err, tc.is) {
				t.Errorf("error %q is not %q", tc.err, tc.is)
			}
			if !strings.Contains(tc.err.Error(), tc.errHas) {
				t.Errorf("error %q does not mention %q", tc.err, tc.errHas)
			}
		})
	}

	// A path that stays inside the tree after cleaning is fine.
	if data, err := snap.ReadFile(ctxT(t), "orgs/../README.md"); err != nil || string(data) != "config repo\n" {
		t.Errorf("ReadFile(orgs/../README.md) = %q, %v", data, err)
	}
	unknown := plumbing.NewHash(strings.Repeat("ab", 20))
	if _, err := m.Files(ctxT(t), unknown, "orgs", ".yaml"); !errors.Is(err, plumbing.ErrObjectNotFound) {
		t.Errorf("Files at an unknown commit: %v; want ErrObjectNotFound", err)
	}
}

// TestCommitInfo checks the commit description and ShortHash.
func TestCommitInfo(t *testing.T) {
	e := newRemote(t, "path")
	c := e.clone(t)
	c.Write("orgs/acme.yaml", "org: acme\n")
	c.Git("add", "-A")
	c.Git("commit", "--quiet", "-m", "Deploy acme v1\n\nBody text.")
	head := plumbing.NewHash(c.Head())
	c.Push()
	m := openMirror(t, e.url)
	mustFetch(t, m)
	before := time.Now()
	info, err := m.CommitInfo(ctxT(t), head)
	if err != nil {
		t.Fatalf("CommitInfo: %v", err)
	}
	want := CommitInfo{Hash: head, Short: head.String()[:7], Subject: "Deploy acme v1",
		Author: gittest.AuthorName, AuthorEmail: gittest.AuthorEmail}
	if diff := cmp.Diff(want, info, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Time" }, cmp.Ignore())); diff != "" {
		t.Errorf("CommitInfo (-want +got):\n%s", diff)
	}
	if info.Time.IsZero() || info.Time.After(before.Add(time.Second)) {
		t.Errorf("CommitInfo time = %v; want a time up to now", info.Time)
	}
	if got := ShortHash(head); len(got) != 7 || !strings.HasPrefix(head.String(), got) {
		t.Errorf("ShortHash(%s) = %q", head, got)
	}
}

// TestConcurrentReadsDuringFetch reads snapshots from several goroutines while fetches run,
// and with them repacks (pack limit 1: Fetch repacks after the fetch that leaves five
// packs); run it with -race.
func TestConcurrentReadsDuringFetch(t *testing.T) {
	e := newRemote(t, "path")
	c := e.clone(t)
	c1 := seed(t, c)
	m := openMirror(t, e.url, WithPackLimit(1))
	mustFetch(t, m)

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				files, err := m.Files(ctxT(t), c1, "orgs", ".yaml")
				if err == nil && len(files) != 2 {
					err = errors.New("want 2 files at c1")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 6 {
		c.Write("orgs/acme.yaml", strings.Repeat("#", i+1)+"\norg: acme\n")
		want := plumbing.NewHash(c.Commit("edit"))
		c.Push()
		if got := mustFetch(t, m); got.Commit != want || got.MaintainErr != nil {
			t.Errorf("Fetch %d = %+v; want %s", i, got, want)
		}
	}
	if n := countPacks(t, m.Dir()); n != 3 {
		t.Errorf("%d packs after 7 fetches; want 3 (five repacked into one, two more)", n)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Files: %v", err)
	}
}
