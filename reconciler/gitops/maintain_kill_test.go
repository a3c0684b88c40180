//go:build unix

package gitops

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Environment of TestRepackKilledChild.
const (
	killDirEnv  = "GITOPS_TEST_KILL_DIR"
	killURLEnv  = "GITOPS_TEST_KILL_URL"
	killStepEnv = "GITOPS_TEST_KILL_STEP"
)

// killLimit is the pack limit of the mirrors TestRepackKilled builds.
const killLimit = 3

// TestRepackKilledChild is run by TestRepackKilled in a process of its own: it opens the
// mirror and runs Maintain, and the process kills itself (SIGKILL) when the repack
// reaches the step named in the environment. Reaching the end is a failure.
func TestRepackKilledChild(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("run by TestRepackKilled")
	}
	step, writes := os.Getenv(killStepEnv), 0
	kill := func(s string) {
		if s == "encoding" {
			writes++
		}
		if s == step && (s != "encoding" || writes > 3) { // a few writes in: a partial pack
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute) // the signal is on its way
		}
	}
	m, err := Open(context.Background(), dir, os.Getenv(killURLEnv), WithPackLimit(killLimit), withRepackHook(kill))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Maintain(context.Background())
	t.Fatalf("Maintain returned (%v) without reaching step %q", err, step)
}

// TestRepackKilled kills a repack at each of its steps (in a child process, with SIGKILL)
// and checks the mirror it leaves: every commit reads right, Open removes an index left
// without its pack, and the next Maintain finishes the job and leaves no debris.
func TestRepackKilled(t *testing.T) {
	for _, tc := range []struct {
		step                  string
		packs, temps, orphans int // in objects/pack after the kill
	}{
		{"encoding", 2 * killLimit, 1, 0},  // the new pack is half written
		{"written", 2*killLimit + 1, 0, 0}, // old packs and the new one
		{"deleting", 2 * killLimit, 0, 1},  // the first old pack file is gone, not its index
	} {
		t.Run(tc.step, func(t *testing.T) {
			e := newRemote(t, "git")
			c := e.clone(t)
			m := openMirror(t, e.url, WithPackLimit(killLimit))
			revs := fetchRevs(t, m, c, 0, 2*killLimit, nil)
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}

			runKilledChild(t, m.Dir(), e.url, tc.step)
			packs, temps, orphans := packDirState(t, m.Dir())
			if packs != tc.packs || temps != tc.temps || orphans != tc.orphans {
				t.Fatalf("after the kill: %d packs, %d temporary, %d indexes without pack; want %d, %d, %d",
					packs, temps, orphans, tc.packs, tc.temps, tc.orphans)
			}

			m2, err := Open(ctxT(t), m.Dir(), e.url, WithPackLimit(killLimit))
			if err != nil {
				t.Fatalf("Open after the kill: %v", err)
			}
			closeAtEnd(t, m2)
			if _, _, orphans := packDirState(t, m.Dir()); orphans != 0 {
				t.Errorf("Open left %d indexes without pack", orphans)
			}
			checkAll(t, m2, revs)
			backdateTemps(t, m.Dir())
			if err := m2.Maintain(ctxT(t)); err != nil {
				t.Fatalf("Maintain after the kill: %v", err)
			}
			if packs, temps, orphans := packDirState(t, m.Dir()); packs != 1 || temps != 0 || orphans != 0 {
				t.Errorf("after Maintain: %d packs, %d temporary, %d indexes without pack; want 1, 0, 0", packs, temps, orphans)
			}
			checkAll(t, m2, revs)
			fsck(t, m.Dir())
		})
	}
}

// runKilledChild runs TestRepackKilledChild on the mirror at dir and checks that SIGKILL
// ended it.
func runKilledChild(t *testing.T, dir, url, step string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRepackKilledChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killDirEnv+"="+dir, killURLEnv+"="+url, killStepEnv+"="+step)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child: %v; want killed at %q:\n%s", err, step, out)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not killed at %q:\n%s", err, step, out)
	}
}

// checkAll reads every revision and checks the head.
func checkAll(t *testing.T, m *Mirror, revs []plumbing.Hash) {
	t.Helper()
	for i, h := range revs {
		checkRev(t, m, h, i)
	}
	if h, ok := m.Head(); !ok || h != revs[len(revs)-1] {
		t.Errorf("Head = %s, %v; want %s", h, ok, ShortHash(revs[len(revs)-1]))
	}
}

// backdateTemps makes the temporary packs in the mirror at dir older than staleTemp, as
// the leftovers of a kill are by the time a later Maintain runs.
func backdateTemps(t *testing.T, dir string) {
	t.Helper()
	old := time.Now().Add(-2 * staleTemp)
	temps, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_pack_*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range temps {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRepackAfterKillInPackWriter leaves what a kill inside go-git's pack writer leaves:
// the index of the new pack half written, the pack itself not yet renamed into place. The
// writer reuses an index it finds under the name of the pack it writes, so the repack
// that follows (which writes that very pack again) must not find it there.
func TestRepackAfterKillInPackWriter(t *testing.T) {
	e := newRemote(t, "path")
	c := e.clone(t)
	m := openMirror(t, e.url, WithPackLimit(killLimit))
	revs := fetchRevs(t, m, c, 0, 2*killLimit, nil)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Learn the name and index of the pack the repack writes, on a copy.
	cp := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(cp, os.DirFS(m.Dir())); err != nil {
		t.Fatal(err)
	}
	mc, err := Open(ctxT(t), cp, e.url, WithPackLimit(killLimit))
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, mc)
	if err := mc.Maintain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	idxs, err := filepath.Glob(filepath.Join(cp, "objects", "pack", "pack-*.idx"))
	if err != nil || len(idxs) != 1 {
		t.Fatalf("copy after Maintain has indexes %v, %v; want one", idxs, err)
	}
	idx, err := os.ReadFile(idxs[0])
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(m.Dir(), "objects", "pack", filepath.Base(idxs[0]))
	if err := os.WriteFile(half, idx[:len(idx)/2], 0o444); err != nil {
		t.Fatal(err)
	}

	m2, err := Open(ctxT(t), m.Dir(), e.url, WithPackLimit(killLimit))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	closeAtEnd(t, m2)
	if err := m2.Maintain(ctxT(t)); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	got, err := os.ReadFile(half)
	if err != nil || string(got) != string(idx) {
		t.Fatalf("index of the new pack: %d bytes, %v; want the %d bytes the copy wrote", len(got), err, len(idx))
	}
	checkAll(t, m2, revs)
	fsck(t, m.Dir())
}

// withRepackHook makes the mirror call f at each step of a repack (see Mirror.hook).
func withRepackHook(f func(step string)) Option {
	return func(o *options) error {
		o.repackHook = f
		return nil
	}
}
