package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/reconciler/daemon"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
	"github.com/eaglenotifier/talon/registry"
)

// count returns how many times msg stands in the logs.
func count(logs *gittest.LockedBuffer, msg string) int { return strings.Count(logs.String(), msg) }

// awaitLog waits until msg stands at least n times in the logs.
func awaitLog(t *testing.T, logs *gittest.LockedBuffer, msg string, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); count(logs, msg) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q %d times", msg, n)
		}
	}
}

// autoPromoteWorld runs a daemon for acme, which asks for 1.4.2 with cicd.autoPromote set
// to promote tags matching >=1.4 <2 to the given target, and waits until 1.4.2 serves.
func autoPromoteWorld(t *testing.T, to string) (w *daemonWorld, base string, logs *gittest.LockedBuffer) {
	w = newDaemonWorld(t)
	w.pushModel("acme", "v1")
	pushSigned(t, w.Client, w.Signer, w.RegHost+"/acme/pdm:1.4.2", registry.PushInput{ModelPath: filepath.Join(testdataDir, "pdm-v1.onnx")})
	w.Clone.Write("orgs/acme.yaml", fmt.Sprintf("org: acme\nmodel:\n  repository: %s/acme/pdm\n  version: 1.4.2  # CI bumps this\ntrust: {keys: [keys/ci.pub]}\ncicd:\n  autoPromote: {semver: \">=1.4 <2\", to: %s}\n", w.RegHost, to))
	w.Clone.Commit("acme 1.4.2")
	w.Clone.Push()
	logs = &gittest.LockedBuffer{}
	base, _ = runDaemon(t, daemon.Config{
		ConfigRepo: w.RepoURL, DataDir: t.TempDir(), KeyDir: keyDir(t, "acme"), Listen: "127.0.0.1:0",
		PollInterval: 150 * time.Millisecond, StatusBranch: "-",
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	await(t, base, "acme", "1.4.2")
	return w, base, logs
}

// TestAutoPromoteDirect: a newer tag in range that is not signed is refused (fail closed:
// nothing is committed); a signed one is committed to main and deployed; after a person
// reverts that promotion, the same artifact is not promoted again.
func TestAutoPromoteDirect(t *testing.T) {
	w, base, logs := autoPromoteWorld(t, "direct")
	head := func() string { return strings.TrimSpace(gittest.Git(t, w.Bare, "rev-parse", "main")) }
	start := head()

	if _, err := w.Client.Push(context.Background(), w.RegHost+"/acme/pdm:1.4.3",
		registry.PushInput{ModelPath: filepath.Join(testdataDir, "pdm-v2.onnx")}); err != nil {
		t.Fatal(err)
	}
	awaitLog(t, logs, "automatic promotion refused", 2)
	if h := head(); h != start {
		t.Fatalf("main moved to %s for an unsigned tag", h)
	}

	pushSigned(t, w.Client, w.Signer, w.RegHost+"/acme/pdm:1.5.0", registry.PushInput{ModelPath: filepath.Join(testdataDir, "pdm-v2.onnx")})
	await(t, base, "acme", "1.5.0")
	promo := head()
	if parent := strings.TrimSpace(gittest.Git(t, w.Bare, "rev-parse", promo+"^")); parent != start {
		t.Errorf("the promotion's parent is %s; want the previous head %s", parent, start)
	}
	file := gittest.Git(t, w.Bare, "show", "main:orgs/acme.yaml")
	if !strings.Contains(file, "version: 1.5.0  # CI bumps this") {
		t.Errorf("org file after the promotion:\n%s", file)
	}
	if subject := strings.TrimSpace(gittest.Git(t, w.Bare, "log", "-1", "--format=%s", "main")); !strings.HasPrefix(subject, "acme: promote 1.5.0 (sha256:") {
		t.Errorf("promotion subject = %q", subject)
	}

	w.Clone.Git("pull", "--quiet", "--ff-only")
	revert := w.Clone.Revert(promo)
	w.Clone.Push()
	await(t, base, "acme", "1.4.2")
	skipped := count(logs, "promoted once already")
	awaitLog(t, logs, "promoted once already", skipped+3)
	if h := head(); h != revert {
		t.Errorf("main moved to %s after the promotion was reverted (revert %s): promoted again", h, revert)
	}
}

// TestAutoPromoteReview: with to: review the promotion goes to talon/promote/acme, main
// is untouched and acme keeps serving what main asks for.
func TestAutoPromoteReview(t *testing.T) {
	w, base, logs := autoPromoteWorld(t, "review")
	start := strings.TrimSpace(gittest.Git(t, w.Bare, "rev-parse", "main"))
	pushSigned(t, w.Client, w.Signer, w.RegHost+"/acme/pdm:1.4.3", registry.PushInput{ModelPath: filepath.Join(testdataDir, "pdm-v2.onnx")})
	awaitLog(t, logs, "promoted a new version", 1)
	file := gittest.Git(t, w.Bare, "show", "talon/promote/acme:orgs/acme.yaml")
	if !strings.Contains(file, "version: 1.4.3  # CI bumps this") {
		t.Errorf("org file on the review branch:\n%s", file)
	}
	if parent := strings.TrimSpace(gittest.Git(t, w.Bare, "rev-parse", "talon/promote/acme^")); parent != start {
		t.Errorf("review branch starts at %s; want main's head %s", parent, start)
	}
	if h := strings.TrimSpace(gittest.Git(t, w.Bare, "rev-parse", "main")); h != start {
		t.Errorf("main moved to %s; a review promotion must not touch it", h)
	}
	if a, _, err := infer(base, "acme"); err != nil || a.Version != "1.4.2" {
		t.Errorf("acme serves %+v, %v; want 1.4.2 until the review is merged", a, err)
	}
}
