package reconciler_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/monitor"
	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/reconciler/gitops"
	"github.com/eaglenotifier/talon/reconciler/rollback"
	"github.com/eaglenotifier/talon/reconciler/store"
)

// TestAutoRollback: v2 fails requests; once the window says Degraded, Talon quarantines
// v2's digest and commits a git-style revert with the evidence, the next pass deploys v1
// again, and desiring v2 again is refused while the quarantine holds.
func TestAutoRollback(t *testing.T) {
	w := newWorld(t)
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "v2", "pdm-v2.onnx")
	monitored := func(tag string) string {
		return orgYAML("acme", w.repo("acme"), tag) +
			"monitoring: {maxErrorRate: 0.1, minSamples: 20, window: 1m, degradedFor: 0s, autoRollback: true}\n"
	}
	w.key(t, "acme")
	w.clone.Write("orgs/acme.yaml", monitored("v1"))
	w.clone.Commit("acme v1")
	w.clone.Push()
	w.clone.Write("orgs/acme.yaml", monitored("v2"))
	bump := w.clone.Commit("acme: deploy v2")
	w.clone.Push()

	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	mon := monitor.New(monitor.Options{Now: clock})
	dir := t.TempDir()
	st, err := store.Open(dir, store.WithKeyDir(w.keys))
	if err != nil {
		t.Fatal(err)
	}
	m, err := gitops.Open(context.Background(), dir+"/config.git", w.repoURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	cache := inference.NewCache()
	t.Cleanup(cache.Close)
	r := reconciler.New(m, w.client, st, cache, reconciler.Options{
		Now: clock, Monitor: mon,
		Reverter: rollback.Reverter{URL: w.repoURL, Branch: "main", AuthorName: "Talon", AuthorEmail: "talon@test.invalid"},
	})
	ctx := context.Background()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := predict(t, cache, "acme"); info.Version != "v2" {
		t.Fatalf("acme serves %s, want v2", info.Version)
	}

	// Healthy traffic: Stable.
	for range 30 {
		mon.ObserveRequest("acme", "v2", now, time.Millisecond, monitor.OK)
	}
	r.CheckHealth(ctx)
	if p := r.Status()["acme"].Phase; p != reconciler.PhaseStable {
		t.Fatalf("phase %s with healthy traffic, want Stable", p)
	}
	// Then half the requests fail.
	now = now.Add(10 * time.Second)
	for range 30 {
		mon.ObserveRequest("acme", "v2", now, time.Millisecond, monitor.ServerError)
	}
	r.CheckHealth(ctx)
	if p := r.Status()["acme"].Phase; p != reconciler.PhaseRollback {
		t.Fatalf("phase %s after errors, want Rollback", p)
	}
	w.clone.Git("pull", "--quiet", "origin", "main")
	msg := w.clone.Git("log", "-1", "--format=%B")
	for _, want := range []string{`Revert "acme: deploy v2"`, "This reverts commit " + bump + ".", "errorRate", "BREACHED", w.digests["acme:v2"]} {
		if !strings.Contains(msg, want) {
			t.Errorf("revert message lacks %q:\n%s", want, msg)
		}
	}
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := predict(t, cache, "acme"); info.Version != "v1" {
		t.Fatalf("after the auto-rollback acme serves %s, want v1", info.Version)
	}

	r.CheckHealth(ctx) // v1 has no traffic yet: no second rollback
	w.clone.Git("pull", "--quiet", "origin", "main")
	if n := strings.Count(w.clone.Git("log", "--format=%s"), "Revert "); n != 1 {
		t.Fatalf("%d revert commits, want 1", n)
	}
}

// failingReverter cannot commit, as when later commits make the revert unclean.
type failingReverter struct{}

func (failingReverter) Revert(context.Context, string, string, string) (string, error) {
	return "", rollback.ErrNotClean
}

// TestQuarantineHoldsUntilDesiredChanges: when the revert cannot be committed, the degraded
// digest is quarantined: a pass over an unchanged desired digest does not deploy it again,
// after a restart too, until the desired state names another digest.
func TestQuarantineHoldsUntilDesiredChanges(t *testing.T) {
	w := newWorld(t)
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "v2", "pdm-v2.onnx")
	org := func(tag, maxErrorRate string) string {
		return orgYAML("acme", w.repo("acme"), tag) +
			"monitoring: {maxErrorRate: " + maxErrorRate + ", minSamples: 5, window: 1m, degradedFor: 0s, autoRollback: true}\n"
	}
	w.key(t, "acme")
	w.clone.Write("orgs/acme.yaml", org("v2", "0.1"))
	w.clone.Commit("acme v2")
	w.clone.Push()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	mon := monitor.New(monitor.Options{Now: clock})
	dir := t.TempDir()
	st, _ := store.Open(dir, store.WithKeyDir(w.keys))
	m, err := gitops.Open(context.Background(), dir+"/config.git", w.repoURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	cache := inference.NewCache()
	t.Cleanup(cache.Close)
	r := reconciler.New(m, w.client, st, cache, reconciler.Options{Now: clock, Monitor: mon, Reverter: failingReverter{}})
	ctx := context.Background()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		mon.ObserveRequest("acme", "v2", now, time.Millisecond, monitor.ServerError)
	}
	r.CheckHealth(ctx)
	if s := r.Status()["acme"]; reconciler.ReasonOf(s.Err) != "RollbackFailed" {
		t.Fatalf("status %+v, want RollbackFailed", s)
	}
	// A restart, without the deployed model: a new reconciler over the same data dir.
	cache.Remove("acme")
	if err := os.RemoveAll(filepath.Join(dir, "models", "acme", store.DeployedLink)); err != nil {
		t.Fatal(err)
	}
	r = reconciler.New(m, w.client, st, cache, reconciler.Options{Now: clock, Monitor: mon, Reverter: failingReverter{}})
	if err := r.Restore(ctx); err != nil {
		t.Fatal(err)
	}

	w.clone.Write("orgs/acme.yaml", org("v2", "0.2"))
	w.clone.Commit("acme: looser error budget")
	w.clone.Push()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if s := r.Status()["acme"]; reconciler.ReasonOf(s.Err) != "Quarantined" {
		t.Fatalf("status %+v, want Quarantined", s)
	}
	if _, _, ok := cache.Get("acme"); ok {
		t.Fatal("the quarantined digest was deployed again")
	}
	w.clone.Write("orgs/acme.yaml", org("v1", "0.2"))
	w.clone.Commit("acme v1")
	w.clone.Push()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := predict(t, cache, "acme"); info.Version != "v1" {
		t.Fatalf("acme serves %s after desiring v1", info.Version)
	}
	if _, err := st.Refused("acme"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the quarantine is still on disk after desiring v1: %v", err)
	}
}
