package daemon_test

import (
	"testing"
	"time"

	"github.com/eaglenotifier/talon/reconciler/daemon"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// TestWebhookHintedFetch: a push webhook names the pushed commit, so the pass it triggers
// fetches the config repo in one connection to git daemon instead of listing its refs in a
// connection of its own first. A webhook naming a commit Talon already has (a late
// delivery) costs the listing again, and Talon still follows the branch, not the webhook.
func TestWebhookHintedFetch(t *testing.T) {
	w := newDaemonWorld(t)
	counted := gittest.CountConns(t, w.Daemon) // the daemon fetches through it, the clone does not
	for _, tag := range []string{"v1", "v2"} {
		w.pushModel("acme", tag)
	}
	w.desire("acme", "v1")

	secret := []byte("s3cret-webhook")
	base, _ := runDaemon(t, daemon.Config{
		ConfigRepo: counted.URL + "/config.git", DataDir: t.TempDir(), KeyDir: keyDir(t, "acme"),
		Listen: "127.0.0.1:0", PollInterval: time.Hour, WebhookSecret: secret, StatusBranch: "-",
	})
	await(t, base, "acme", "v1")

	// Serving the new version means the pass's fetch has returned, so the count is final.
	before := counted.Connections()
	v2 := w.desire("acme", "v2")
	sendPushHook(t, base, secret, v2)
	await(t, base, "acme", "v2")
	if n := counted.Connections() - before; n != 1 {
		t.Errorf("the pass after a webhook naming the new commit made %d connections to the config repo; want 1", n)
	}

	before = counted.Connections()
	w.desire("acme", "v1")
	sendPushHook(t, base, secret, v2) // stale: the branch has moved on since
	await(t, base, "acme", "v1")
	if n := counted.Connections() - before; n != 2 {
		t.Errorf("the pass after a stale webhook made %d connections to the config repo; want 2 (list, fetch)", n)
	}
}
