//go:build unix

package reconciler_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// gitDaemon is `git daemon` serving root on a fixed loopback port, in its own process
// group, that a test can kill and start again on the same port.
type gitDaemon struct {
	root   string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

func startGitDaemon(t *testing.T, root string) *gitDaemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &gitDaemon{root: root, port: ln.Addr().(*net.TCPAddr).Port}
	ln.Close()
	d.up(t)
	t.Cleanup(d.down)
	return d
}

func (d *gitDaemon) url() string { return "git://127.0.0.1:" + strconv.Itoa(d.port) }

// up starts git daemon and returns once its port accepts connections.
func (d *gitDaemon) up(t testing.TB) {
	t.Helper()
	d.cmd = exec.Command("git", "daemon", "--reuseaddr", "--base-path="+d.root, "--export-all",
		"--enable=receive-pack", "--listen=127.0.0.1", "--port="+strconv.Itoa(d.port), d.root)
	d.cmd.Env = gittest.Env()
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("git daemon: %v", err)
	}
	d.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(d.cmd, d.exited)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(d.port), time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-d.exited:
			t.Fatalf("git daemon exited at start")
		default:
		}
		if time.Now().After(deadline) {
			d.down()
			t.Fatalf("git daemon not accepting on port %d", d.port)
		}
	}
}

// down kills git daemon and its children with SIGKILL, as a crashed server.
func (d *gitDaemon) down() {
	if d.cmd == nil {
		return
	}
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.exited
	d.cmd = nil
}

// gitHTTPBehindProxy serves root through git-http-backend behind a reverse proxy that
// answers 503, as a load balancer does when its backend is gone, while down is set.
func gitHTTPBehindProxy(t *testing.T, root string) (base string, down *atomic.Bool) {
	t.Helper()
	backend, err := url.Parse(gittest.StartHTTP(t, root))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(backend)
	down = &atomic.Bool{}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front.URL, down
}

// gitWorld is newWorld over a config repository at repoURL.
func gitWorld(t *testing.T, repoURL string) *world {
	t.Helper()
	initORT(t)
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, repoURL: repoURL, reg: registrytest.Start(t), client: client, digests: map[string]string{}, keys: t.TempDir()}
	w.signer, w.pubPEM = newSigner(t)
	w.clone = gittest.Clone(t, repoURL, filepath.Join(t.TempDir(), "work"))
	w.clone.Write("keys/ci.pub", string(w.pubPEM))
	return w
}

// TestGitServerDown: while the config repo's server is gone (git daemon killed, or an
// HTTP proxy answering 503) every pass fails with an error naming the config repo, the
// org's status is untouched and its model keeps serving. A commit pushed meanwhile
// (straight into the bare repository) is deployed by the first pass after the server
// is back on the same address.
func TestGitServerDown(t *testing.T) {
	tests := []struct {
		name  string
		serve func(t *testing.T, root string) (url string, down, up func())
	}{
		{"git daemon killed", func(t *testing.T, root string) (string, func(), func()) {
			d := startGitDaemon(t, root)
			return d.url(), d.down, func() { d.up(t) }
		}},
		{"HTTP 503 from the proxy", func(t *testing.T, root string) (string, func(), func()) {
			base, down := gitHTTPBehindProxy(t, root)
			return base, func() { down.Store(true) }, func() { down.Store(false) }
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			bare := gittest.NewBareRepo(t, root, "config")
			base, down, up := tc.serve(t, root)
			w := gitWorld(t, base+"/config.git")
			w.push("acme", "v1", "pdm-v1.onnx")
			w.push("acme", "v2", "pdm-v2.onnx")
			first := w.desire("acme v1", map[string]string{"acme": "v1"})
			clock := newFakeClock()
			r, cache, _ := faultReconciler(t, w, "", reconciler.Options{Now: clock.Now})
			ctx := context.Background()
			if err := r.ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
			before := r.Status()["acme"]

			down()
			w.clone.Write("orgs/acme.yaml", orgYAML("acme", w.repo("acme"), "v2"))
			bump := w.clone.Commit("acme v2 while the server is down")
			w.clone.Git("push", "--quiet", bare, "HEAD:main")
			for range 2 {
				err := r.ReconcileOnce(ctx)
				if err == nil || !strings.Contains(err.Error(), "config repo") || !strings.Contains(err.Error(), base) {
					t.Fatalf("pass with the git server down = %v, want an error naming the config repo %s", err, base)
				}
				t.Logf("%s: %v", tc.name, err)
				if s := r.Status()["acme"]; s != before {
					t.Fatalf("acme status changed while git was down: %+v, was %+v", s, before)
				}
				if info, p := predict(t, cache, "acme"); info.Version != "v1" || info.ConfigCommit != first || !near(p, expect(pdm.V1())) {
					t.Fatalf("acme serves %+v (p=%v) with git down, want v1 from %s", info, p, first)
				}
				clock.Advance(time.Hour)
			}

			up()
			if err := r.ReconcileOnce(ctx); err != nil {
				t.Fatalf("pass after git came back: %v", err)
			}
			if info, p := predict(t, cache, "acme"); info.Version != "v2" || info.ConfigCommit != bump || !near(p, expect(pdm.V2())) {
				t.Fatalf("after git came back acme serves %+v (p=%v), want v2 from %s; status %+v", info, p, bump, r.Status()["acme"])
			}
			if s := r.Status()["acme"]; !s.Applied || s.Err != nil || s.Commit != bump || s.Deployed.Version != "v2" {
				t.Fatalf("acme status = %+v, want v2 applied from %s", s, bump)
			}
		})
	}
}

// TestForcePushRewritesHistory: the tracked branch is force-pushed to an unrelated history
// (an orphan commit) that desires v2, and Talon follows it; force-pushing the old head back
// returns acme to v1, from the store, with the registry stopped.
func TestForcePushRewritesHistory(t *testing.T) {
	w := newWorld(t)
	host, stopRegistry, err := registrytest.Serve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopRegistry)
	w.reg = host
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "v2", "pdm-v2.onnx")
	w.desire("acme v0 (missing)", map[string]string{"acme": "v0"})
	first := w.desire("acme v1", map[string]string{"acme": "v1"})
	r, cache, _ := faultReconciler(t, w, "", reconciler.Options{Now: newFakeClock().Now})
	ctx := context.Background()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}

	c := w.clone
	c.Git("checkout", "--quiet", "--orphan", "rewritten")
	c.Write("orgs/acme.yaml", orgYAML("acme", w.repo("acme"), "v2"))
	rewritten := c.Commit("rewritten history: acme v2")
	c.Git("push", "--quiet", "--force", "origin", "rewritten:main")
	if n := c.Git("rev-list", "--count", rewritten); n != "1" {
		t.Fatalf("the rewritten history has %s commits, want an unrelated root commit", n)
	}
	if out, err := exec.Command("git", "-C", c.Dir, "merge-base", first, rewritten).Output(); err == nil {
		t.Fatalf("histories share %s; want unrelated", out)
	}

	steps := []struct {
		name, head, version string
		want                pdm.Weights
	}{
		{"force-push to an unrelated history", rewritten, "v2", pdm.V2()},
		{"force-push the old head back", first, "v1", pdm.V1()},
	}
	for i, st := range steps {
		if i == 1 {
			c.Git("push", "--quiet", "--force", "origin", first+":refs/heads/main")
			stopRegistry() // v1 must come from the store
		}
		if err := r.ReconcileOnce(ctx); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		info, p := predict(t, cache, "acme")
		if info.Version != st.version || info.ConfigCommit != st.head || info.Digest != w.digests["acme:"+st.version] || !near(p, expect(st.want)) {
			t.Fatalf("%s: acme serves %+v (p=%v), want %s from %s; status %+v", st.name, info, p, st.version, st.head, r.Status()["acme"])
		}
		if s := r.Status()["acme"]; !s.Applied || s.Commit != st.head || s.Phase != reconciler.PhaseDeployed {
			t.Fatalf("%s: status %+v", st.name, s)
		}
	}
}
