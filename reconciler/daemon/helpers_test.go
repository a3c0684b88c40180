package daemon_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/eaglenotifier/talon/reconciler/daemon"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// daemonWorld is what a daemon test deploys from: a bare config repository served by git
// daemon, a registry in this process and a client for it, a cosign signer whose public
// key the repository trusts as keys/ci.pub, and a work clone to change the repository
// with. All of it lives until the test ends.
type daemonWorld struct {
	tb testing.TB
	// Bare is the bare repository's path, Daemon git daemon's base URL and RepoURL the
	// repository's URL there.
	Bare, Daemon, RepoURL string
	// RegHost is the registry's "127.0.0.1:port".
	RegHost string
	Client  *registry.Client
	Signer  *cosign.Signer
	// Pub is the signer's public key, committed as keys/ci.pub.
	Pub []byte
	// Clone is a work clone that talks to git daemon directly.
	Clone *gittest.WorkClone
}

// newDaemonWorld starts the servers of a daemonWorld and writes keys/ci.pub into the
// clone; the first desire commits and pushes it along.
func newDaemonWorld(tb testing.TB) *daemonWorld {
	tb.Helper()
	w := &daemonWorld{tb: tb}
	root := tb.TempDir()
	w.Bare = gittest.NewBareRepo(tb, root, "config")
	w.Daemon = gittest.StartDaemon(tb, root)
	w.RepoURL = w.Daemon + "/config.git"
	w.RegHost = registrytest.Start(tb)
	client, err := registry.New()
	if err != nil {
		tb.Fatal(err)
	}
	w.Client = client
	w.Signer, w.Pub = newSigner(tb)
	w.Clone = gittest.Clone(tb, w.RepoURL, filepath.Join(tb.TempDir(), "work"))
	w.Clone.Write("keys/ci.pub", string(w.Pub))
	return w
}

// pushModel pushes and signs testdata's pdm-<tag>.onnx as RegHost/org/pdm:tag.
func (w *daemonWorld) pushModel(org, tag string) name.Digest {
	w.tb.Helper()
	return pushSigned(w.tb, w.Client, w.Signer, w.RegHost+"/"+org+"/pdm:"+tag,
		registry.PushInput{ModelPath: filepath.Join(testdataDir, "pdm-"+tag+".onnx")})
}

// desire sets org to version tag of RegHost/org/pdm, trusting keys/ci.pub, commits,
// pushes and returns the commit.
func (w *daemonWorld) desire(org, tag string) string {
	w.tb.Helper()
	w.Clone.Write("orgs/"+org+".yaml", fmt.Sprintf("org: %s\nmodel: {repository: %s/%s/pdm, version: %s}\ntrust: {keys: [keys/ci.pub]}\n", org, w.RegHost, org, tag))
	sha := w.Clone.Commit(org + " " + tag)
	w.Clone.Push()
	return sha
}

// runDaemon runs daemon.Run with cfg (its OnListen replaced) and returns its base URL and
// a stop that cancels it and waits; the test's cleanup stops it too, and either fails the
// test if Run returned an error.
func runDaemon(tb testing.TB, cfg daemon.Config) (base string, stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	cfg.OnListen = func(a string) { addr <- a }
	go func() { done <- daemon.Run(ctx, cfg) }()
	select {
	case a := <-addr:
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				cancel()
				if err := <-done; err != nil {
					tb.Errorf("daemon: %v", err)
				}
			}
		}
		tb.Cleanup(stop)
		return "http://" + a, stop
	case err := <-done:
		cancel()
		tb.Fatalf("daemon did not start: %v", err)
		return "", nil
	}
}

// sendPushHook posts a signed GitHub push of branch main at after and expects it accepted.
func sendPushHook(tb testing.TB, base string, secret []byte, after string) {
	tb.Helper()
	body := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"repository":{"full_name":"acme/config"}}`, after)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(body))
	req, err := http.NewRequest(http.MethodPost, base+"/hooks/git", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		tb.Fatalf("webhook answered %s; want 202 Accepted", resp.Status)
	}
}
