package reconciler_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/reconciler/gitops"
	"github.com/eaglenotifier/talon/reconciler/store"
)

// blobFault is what flakyRegistry does to GETs of its target blob.
type blobFault int32

const (
	noFault  blobFault = iota
	slowBlob           // headers at once, then 16 bytes a second
	blob503            // 503 Service Unavailable
	halfBlob           // the full Content-Length, half the bytes, then the connection drops
)

// flakyRegistry is go-containerregistry's in-process registry on a loopback port. A test
// can take it down (the port refuses connections) and bring it back on the same port with
// the same contents, and can make GETs of one blob slow, 503 or cut off halfway.
type flakyRegistry struct {
	host   string
	h      http.Handler // the registry; its memory outlives restarts
	target atomic.Value // "/blobs/sha256:…" the fault applies to
	fault  atomic.Int32

	mu   sync.Mutex
	srv  *http.Server
	done chan struct{}
}

func startFlakyRegistry(t *testing.T) *flakyRegistry {
	t.Helper()
	r := &flakyRegistry{host: "127.0.0.1:0", h: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
	r.target.Store("")
	r.up(t)
	t.Cleanup(r.down)
	return r
}

// up serves the registry on its port (a free one the first time).
func (r *flakyRegistry) up(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	ln, err := net.Listen("tcp", r.host)
	if err != nil {
		t.Fatalf("registry up on %s: %v", r.host, err)
	}
	r.host = ln.Addr().String()
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ErrorLog: log.New(io.Discard, "", 0)}
	r.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) { defer close(done); srv.Serve(ln) }(r.srv, r.done)
}

// down closes the listener and every connection: clients get connection refused.
func (r *flakyRegistry) down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
		<-r.done
		r.srv = nil
	}
}

// breakBlob applies f to GETs of blob digest (sha256:…); noFault heals it.
func (r *flakyRegistry) breakBlob(digest string, f blobFault) {
	r.target.Store("/blobs/" + digest)
	r.fault.Store(int32(f))
}

func (r *flakyRegistry) serve(w http.ResponseWriter, req *http.Request) {
	f := blobFault(r.fault.Load())
	target := r.target.Load().(string)
	if f == noFault || target == "" || req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, target) {
		r.h.ServeHTTP(w, req)
		return
	}
	if f == blob503 {
		http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}`, http.StatusServiceUnavailable)
		return
	}
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	if f == halfBlob {
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the server drops the connection mid-body
	}
	for len(body) > 0 { // slowBlob
		n := min(16, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		body = body[n:]
		select {
		case <-req.Context().Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// fakeClock is a settable clock for reconciler.Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// faultReconciler builds a Reconciler on the clock over dataDir (a new one when "").
func faultReconciler(t *testing.T, w *world, dataDir string, opts reconciler.Options) (*reconciler.Reconciler, *inference.Cache, *store.Store) {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	st, err := store.Open(dataDir, store.WithKeyDir(w.keys))
	if err != nil {
		t.Fatal(err)
	}
	m, err := gitops.Open(context.Background(), filepath.Join(dataDir, "config.git"), w.repoURL, gitops.WithMaxFileSize(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	cache := inference.NewCache()
	t.Cleanup(cache.Close)
	return reconciler.New(m, w.client, st, cache, opts), cache, st
}

// paddedModel writes weights wt as a valid ONNX model of about size bytes: distinct sizes
// make distinct blobs with the same predictions.
func paddedModel(t *testing.T, wt pdm.Weights, size int) (path, digest string) {
	t.Helper()
	b, err := pdm.ModelWithPadding(wt, size)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), fmt.Sprintf("pdm-%d.onnx", size))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, fileHash(b)
}

// fileHash is the OCI digest of b.
func fileHash(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// tempFiles lists the store's temporary files left in org's directory.
func tempFiles(t *testing.T, st *store.Store, org string) []string {
	t.Helper()
	dir, err := st.OrgDir(org)
	if err != nil {
		t.Fatal(err)
	}
	found, err := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestRegistryFaultsKeepLastGoodModel: acme serves a model while a new version is desired
// and the registry is down, too slow for the org timeout, answers 503 for the model blob,
// or drops the connection halfway through it. Each time the pass finishes, the failure is
// transient with a reason in status, acme keeps serving its last good model (in memory and
// on disk), no temporary file is left and no retry happens before the backoff; once the
// fault is gone and the backoff has passed, the next pass deploys the new version.
func TestRegistryFaultsKeepLastGoodModel(t *testing.T) {
	w := newWorld(t)
	reg := startFlakyRegistry(t)
	w.reg = reg.host
	w.push("acme", "v1", "pdm-v1.onnx")
	w.desire("acme v1", map[string]string{"acme": "v1"})
	clock := newFakeClock()
	r, cache, st := faultReconciler(t, w, "", reconciler.Options{Now: clock.Now, OrgTimeout: 2 * time.Second})
	ctx := context.Background()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		fault  func(modelBlob string)
		heal   func(t *testing.T)
		reason string
		is     error // in the error chain, when not nil
	}{
		{"registry down", func(string) { reg.down() }, func(t *testing.T) { reg.up(t) }, "ResolveFailed", nil},
		{"registry too slow for the org timeout", func(d string) { reg.breakBlob(d, slowBlob) }, func(*testing.T) { reg.breakBlob("", noFault) }, "PullFailed", context.DeadlineExceeded},
		{"503 for the model blob", func(d string) { reg.breakBlob(d, blob503) }, func(*testing.T) { reg.breakBlob("", noFault) }, "PullFailed", nil},
		{"connection dropped mid-blob", func(d string) { reg.breakBlob(d, halfBlob) }, func(*testing.T) { reg.breakBlob("", noFault) }, "PullFailed", io.ErrUnexpectedEOF},
	}
	last, lastP := "v1", expect(pdm.V1())
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wt := []pdm.Weights{pdm.V2(), pdm.V1()}[i%2]
			tag := fmt.Sprintf("fault-%d", i)
			path, blob := paddedModel(t, wt, 4096+64*i)
			w.push("acme", tag, path)
			w.desire("acme "+tag, map[string]string{"acme": tag})

			tc.fault(blob)
			start := time.Now()
			if err := r.ReconcileOnce(ctx); err != nil {
				t.Fatalf("an org's registry fault failed the whole pass: %v", err)
			}
			took := time.Since(start)
			s := r.Status()["acme"]
			switch {
			case s.Applied || s.Err == nil:
				t.Fatalf("acme status = %+v, want a failure", s)
			case reconciler.KindOf(s.Err) != reconciler.Transient || reconciler.ReasonOf(s.Err) != tc.reason || s.Phase != reconciler.PhaseFailed:
				t.Fatalf("acme: kind %v reason %s phase %s (%v); want transient %s Failed", reconciler.KindOf(s.Err), reconciler.ReasonOf(s.Err), s.Phase, s.Err, tc.reason)
			case tc.is != nil && !errors.Is(s.Err, tc.is):
				t.Fatalf("acme err = %v, want it to wrap %v", s.Err, tc.is)
			case !strings.Contains(s.Err.Error(), w.repo("acme")+":"+tag) && !strings.Contains(s.Err.Error(), w.repo("acme")+"@"):
				t.Errorf("error does not name what it was pulling: %v", s.Err)
			case s.Attempts != 1 || !s.NextAttempt.After(clock.Now()) || s.Deployed.Version != last:
				t.Fatalf("acme status = %+v, want attempt 1, a backoff, still deployed %s", s, last)
			}
			t.Logf("%s: %s after %v: %v", tc.name, reconciler.ReasonOf(s.Err), took.Round(time.Millisecond), s.Err)
			if info, p := predict(t, cache, "acme"); info.Version != last || !near(p, lastP) {
				t.Fatalf("acme serves %s (p=%v) during the fault, want %s (p=%v)", info.Version, p, last, lastP)
			}
			if _, rec, _, err := st.Deployed("acme"); err != nil || rec.Version != last {
				t.Fatalf("deployed on disk = %q, %v; want %s", rec.Version, err, last)
			}
			if tmp := tempFiles(t, st, "acme"); len(tmp) != 0 {
				t.Fatalf("temporary files left behind: %v", tmp)
			}
			if _, err := st.Lookup("acme", tag); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a failed pull left %s in the store: %v", tag, err)
			}

			// Before the backoff has passed, nothing is retried.
			if err := r.ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if s2 := r.Status()["acme"]; s2.At != s.At || s2.Attempts != 1 {
				t.Fatalf("retried before the backoff passed: %+v", s2)
			}

			tc.heal(t)
			clock.Advance(time.Hour)
			if err := r.ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
			s = r.Status()["acme"]
			if !s.Applied || s.Err != nil || s.Attempts != 0 || s.Phase != reconciler.PhaseDeployed || s.Deployed.Version != tag {
				t.Fatalf("after the fault went acme = %+v, want %s deployed", s, tag)
			}
			last, lastP = tag, expect(wt)
			if info, p := predict(t, cache, "acme"); info.Version != tag || info.Digest != w.digests["acme:"+tag] || !near(p, lastP) {
				t.Fatalf("acme serves %+v (p=%v), want %s %s (p=%v)", info, p, tag, w.digests["acme:"+tag], lastP)
			}
		})
	}
}
