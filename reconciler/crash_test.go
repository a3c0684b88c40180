package reconciler_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/reconciler/gitops"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
)

// TestMain runs this test binary as a Talon reconciler subprocess when asked to, so the
// crash test can kill a real process with SIGKILL; otherwise it runs the tests.
func TestMain(m *testing.M) {
	if os.Getenv("TALON_CRASH_CHILD") != "" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// crashChild reconciles once over $TALON_DATA, killing itself with SIGKILL before the step
// named by $TALON_CRASH_STEP ("" runs to the end).
func crashChild() int {
	lib, err := inference.FindORTLibrary("")
	if err == nil {
		err = inference.InitRuntime(lib)
	}
	data := os.Getenv("TALON_DATA")
	var st *store.Store
	var m *gitops.Mirror
	var client *registry.Client
	if err == nil {
		st, err = store.Open(data, store.WithKeyDir(os.Getenv("TALON_KEYS")))
	}
	if err == nil {
		m, err = gitops.Open(context.Background(), filepath.Join(data, "config.git"), os.Getenv("TALON_REPO"))
	}
	if err == nil {
		client, err = registry.New()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	crashAt := os.Getenv("TALON_CRASH_STEP")
	r := reconciler.New(m, client, st, inference.NewCache(), reconciler.Options{BeforeStep: func(_, step string) {
		if step == crashAt {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}})
	if err := r.Restore(context.Background()); err != nil {
		return 4
	}
	if err := r.ReconcileOnce(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 5
	}
	return 0
}

// TestCrashAtEachStep: Talon is killed with SIGKILL at each step of deploying v2 over v1
// (and once in the middle of the model download). After a restart it serves v1 or v2 whole
// and verified, never a torn model, and the next reconcile finishes on v2.
func TestCrashAtEachStep(t *testing.T) {
	var childPid atomic.Int64
	v2Digest := fileDigest(t, "pdm-v2.onnx")
	// midPull sends half of v2's model blob, then kills the child mid-download.
	midPull := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+v2Digest.String()) && childPid.Load() > 0 {
				b, _ := os.ReadFile(filepath.Join(testdataDir, "pdm-v2.onnx"))
				w.Header().Set("Content-Length", fmt.Sprint(len(b)))
				w.Write(b[:len(b)/2])
				w.(http.Flusher).Flush()
				syscall.Kill(int(childPid.Load()), syscall.SIGKILL)
				<-r.Context().Done()
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	w := newWorld(t, midPull)
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "v2", "pdm-v2.onnx")
	want := map[string]float32{"v1": expect(pdm.V1()), "v2": expect(pdm.V2())}

	for _, crashAt := range []string{"resolve", "mid-pull", "validate", "deploy", "swap", ""} {
		name := crashAt
		if name == "" {
			name = "no-crash"
		}
		t.Run(name, func(t *testing.T) {
			w.desire("acme v1", map[string]string{"acme": "v1"})
			data := t.TempDir()
			r, cache, _ := w.reconciler(data)
			if err := r.ReconcileOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			cache.Close()
			w.desire("acme v2", map[string]string{"acme": "v2"})

			step := crashAt
			if crashAt == "mid-pull" {
				step = "" // the registry kills it
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "TALON_CRASH_CHILD=1", "TALON_DATA="+data, "TALON_KEYS="+w.keys, "TALON_REPO="+w.repoURL, "TALON_CRASH_STEP="+step)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if crashAt == "mid-pull" {
				childPid.Store(int64(cmd.Process.Pid))
			}
			err := cmd.Wait()
			childPid.Store(0)
			var ee *exec.ExitError
			killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled()
			if crashAt != "" && !killed {
				t.Fatalf("child was not killed at %s: %v", crashAt, err)
			}
			if crashAt == "" && err != nil {
				t.Fatalf("child failed: %v", err)
			}

			// Restart: the store is consistent and serves v1 or v2 whole.
			r, cache, st := w.reconciler(data)
			if err := r.Restore(context.Background()); err != nil {
				t.Fatal(err)
			}
			info, p := predict(t, cache, "acme")
			if wp, ok := want[info.Version]; !ok || !near(p, wp) {
				t.Fatalf("after a crash at %s acme serves %q with p=%v", crashAt, info.Version, p)
			}
			if _, rec, _, err := st.Deployed("acme"); err != nil || rec.Version != info.Version {
				t.Fatalf("deployed on disk: %q, %v", rec.Version, err)
			}
			if err := r.ReconcileOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if info, p := predict(t, cache, "acme"); info.Version != "v2" || !near(p, want["v2"]) {
				t.Fatalf("reconcile after the crash left acme on %s (status %+v)", info.Version, r.Status()["acme"])
			}
		})
	}
}
