//go:build linux

package reconciler_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/reconciler/store"
)

// tinyDisk mounts a tmpfs of size bytes at a new directory for the test, a real file
// system that runs out of space. It needs CAP_SYS_ADMIN (root in the test sandbox).
func tinyDisk(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+strconv.Itoa(size)+",mode=0700"); err != nil {
		t.Fatalf("mount a %d-byte tmpfs at %s (needs root or CAP_SYS_ADMIN): %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// freeBytes is the space an unprivileged writer may still use on dir's file system.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	return int64(s.Bavail) * s.Bsize
}

// TestDiskFullDuringPull: Talon's data directory (mirror, store, deploy dirs) is on a small
// file system that other files have filled. The pull of a model bigger than the free space
// fails with ENOSPC as a transient error in status, leaves no temporary file and gives the
// space back, and the last good model keeps serving from memory and disk. Once space is
// freed and the backoff has passed, the next pass deploys the new model.
func TestDiskFullDuringPull(t *testing.T) {
	const (
		diskSize  = 8 << 20
		modelSize = 4 << 20
	)
	data := tinyDisk(t, diskSize)
	w := newWorld(t)
	w.push("acme", "v1", "pdm-v1.onnx")
	big, _ := paddedModel(t, pdm.V2(), modelSize)
	w.push("acme", "v2-big", big)
	w.desire("acme v1", map[string]string{"acme": "v1"})
	clock := newFakeClock()
	r, cache, st := faultReconciler(t, w, data, reconciler.Options{Now: clock.Now})
	ctx := context.Background()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := predict(t, cache, "acme"); info.Version != "v1" {
		t.Fatalf("acme serves %s, want v1", info.Version)
	}

	// Something else fills the disk, leaving 1 MiB: enough for Git, not for the model.
	ballast := filepath.Join(data, "ballast")
	f, err := os.Create(ballast)
	if err == nil {
		_, err = f.Write(make([]byte, freeBytes(t, data)-1<<20))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("fill the disk: %v", err)
	}
	w.desire("acme v2-big", map[string]string{"acme": "v2-big"})
	free := freeBytes(t, data)
	if free >= modelSize {
		t.Fatalf("%d bytes free; the test needs less than the model's %d", free, modelSize)
	}
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatalf("a full disk failed the whole pass: %v", err)
	}
	s := r.Status()["acme"]
	switch {
	case s.Applied || !errors.Is(s.Err, syscall.ENOSPC):
		t.Fatalf("acme status = %+v, want a failure wrapping ENOSPC", s)
	case reconciler.KindOf(s.Err) != reconciler.Transient || reconciler.ReasonOf(s.Err) != "PullFailed" || s.Phase != reconciler.PhaseFailed:
		t.Fatalf("acme: kind %v reason %s phase %s; want transient PullFailed Failed (%v)", reconciler.KindOf(s.Err), reconciler.ReasonOf(s.Err), s.Phase, s.Err)
	case s.Deployed.Version != "v1" || s.Attempts != 1 || !s.NextAttempt.After(clock.Now()):
		t.Fatalf("acme status = %+v, want v1 still deployed and a backoff", s)
	}
	t.Logf("disk full: %s: %v", reconciler.ReasonOf(s.Err), s.Err)
	if tmp := tempFiles(t, st, "acme"); len(tmp) != 0 {
		t.Fatalf("temporary files left on the full disk: %v", tmp)
	}
	if after := freeBytes(t, data); after < free-64<<10 {
		t.Fatalf("the failed pull kept %d bytes of the disk", free-after)
	}
	if _, err := st.Lookup("acme", "v2-big"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed pull left v2-big in the store: %v", err)
	}
	if info, p := predict(t, cache, "acme"); info.Version != "v1" || !near(p, expect(pdm.V1())) {
		t.Fatalf("acme serves %s (p=%v) with the disk full, want v1", info.Version, p)
	}
	if _, rec, _, err := st.Deployed("acme"); err != nil || rec.Version != "v1" {
		t.Fatalf("deployed on disk = %q, %v; want v1", rec.Version, err)
	}

	// An operator frees space; after the backoff the pull goes through.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if s := r.Status()["acme"]; !s.Applied || s.Err != nil || s.Deployed.Version != "v2-big" {
		t.Fatalf("after space was freed acme = %+v, want v2-big deployed", s)
	}
	if info, p := predict(t, cache, "acme"); info.Version != "v2-big" || !near(p, expect(pdm.V2())) {
		t.Fatalf("acme serves %s (p=%v), want v2-big", info.Version, p)
	}
	if _, rec, _, err := st.Deployed("acme"); err != nil || rec.Version != "v2-big" || rec.Size < modelSize-1024 {
		t.Fatalf("deployed on disk = %+v, %v; want v2-big whole", rec, err)
	}
}
