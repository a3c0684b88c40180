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
	"time"

	"github.com/eaglenotifier/talon/reconciler/daemon"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// TestWebhookHintedFetch: a push webhook names the pushed commit, so the pass it triggers
// fetches the config repo in one connection to git daemon instead of listing its refs in a
// connection of its own first. A webhook naming a commit Talon already has (a late
// delivery) costs the listing again, and Talon still follows the branch, not the webhook.
func TestWebhookHintedFetch(t *testing.T) {
	root := t.TempDir()
	gittest.NewBareRepo(t, root, "config")
	direct := gittest.StartDaemon(t, root)
	counted := gittest.CountConns(t, direct)
	regHost := registrytest.Start(t)
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	signer, pub := newSigner(t)
	for _, tag := range []string{"v1", "v2"} {
		pushSigned(t, client, signer, regHost+"/acme/pdm:"+tag, registry.PushInput{ModelPath: filepath.Join(testdataDir, "pdm-"+tag+".onnx")})
	}
	clone := gittest.Clone(t, direct+"/config.git", filepath.Join(t.TempDir(), "work")) // not counted
	clone.Write("keys/ci.pub", string(pub))
	desire := func(tag string) string {
		clone.Write("orgs/acme.yaml", fmt.Sprintf("org: acme\nmodel: {repository: %s/acme/pdm, version: %s}\ntrust: {keys: [keys/ci.pub]}\n", regHost, tag))
		sha := clone.Commit("acme " + tag)
		clone.Push()
		return sha
	}
	desire("v1")

	secret := []byte("s3cret-webhook")
	data, keys := t.TempDir(), keyDir(t, "acme")
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			ConfigRepo: counted.URL + "/config.git", DataDir: data, KeyDir: keys,
			Listen: "127.0.0.1:0", PollInterval: time.Hour, WebhookSecret: secret, StatusBranch: "-",
			OnListen: func(a string) { addr <- a },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	}
	await(t, base, "acme", "v1")

	// Serving the new version means the pass's fetch has returned, so the count is final.
	before := counted.Connections()
	v2 := desire("v2")
	sendPushHook(t, base, secret, v2)
	await(t, base, "acme", "v2")
	if n := counted.Connections() - before; n != 1 {
		t.Errorf("the pass after a webhook naming the new commit made %d connections to the config repo; want 1", n)
	}

	before = counted.Connections()
	desire("v1")
	sendPushHook(t, base, secret, v2) // stale: the branch has moved on since
	await(t, base, "acme", "v1")
	if n := counted.Connections() - before; n != 2 {
		t.Errorf("the pass after a stale webhook made %d connections to the config repo; want 2 (list, fetch)", n)
	}
}

// sendPushHook posts a signed GitHub push of branch main at after and expects it accepted.
func sendPushHook(t *testing.T, base string, secret []byte, after string) {
	t.Helper()
	body := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"repository":{"full_name":"acme/config"}}`, after)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(body))
	req, err := http.NewRequest(http.MethodPost, base+"/hooks/git", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook answered %s; want 202 Accepted", resp.Status)
	}
}
