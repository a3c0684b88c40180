package reconciler_test

import (
	"context"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/reconciler"
)

// TestDeploymentWindow: outside the window a new version waits (pulled and validated,
// status WaitingForWindow with when it opens) and deploys once the window is open; a git
// revert ignores the window.
func TestDeploymentWindow(t *testing.T) {
	w := newWorld(t)
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "v2", "pdm-v2.onnx")
	windowed := func(tag string) string {
		return orgYAML("acme", w.repo("acme"), tag) + "window: {schedule: \"0 2 * * *\", duration: 1h}\n"
	}
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	r, cache, _ := clockedReconciler(t, w, func() time.Time { return now })
	ctx := context.Background()
	w.key(t, "acme")

	w.clone.Write("orgs/acme.yaml", windowed("v1"))
	w.clone.Commit("acme v1, nightly window")
	w.clone.Push()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	s := r.Status()["acme"]
	opens := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	if s.Applied || reconciler.ReasonOf(s.Err) != reconciler.ReasonWaitingForWindow || !s.NextAttempt.Equal(opens) {
		t.Fatalf("acme = %+v, want waiting for the window until %v", s, opens)
	}
	if _, _, ok := cache.Get("acme"); ok {
		t.Fatal("acme deployed outside its window")
	}
	now = opens.Add(30 * time.Minute)
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := predict(t, cache, "acme"); info.Version != "v1" {
		t.Fatalf("acme serves %q inside the window, status %+v", info.Version, r.Status()["acme"])
	}

	w.clone.Write("orgs/acme.yaml", windowed("v2"))
	bump := w.clone.Commit("acme v2")
	w.clone.Push()
	now = now.Add(10 * time.Minute) // still open
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := predict(t, cache, "acme"); info.Version != "v2" {
		t.Fatalf("acme serves %s inside the window, want v2", info.Version)
	}

	// Closed again: a person's git revert of the bump deploys v1 at once.
	now = now.Add(6 * time.Hour)
	w.clone.Revert(bump)
	w.clone.Push()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := predict(t, cache, "acme"); info.Version != "v1" {
		t.Fatalf("the revert waited for the window: acme serves %s, status %+v", info.Version, r.Status()["acme"])
	}
	// But an ordinary change outside the window still waits.
	w.clone.Write("orgs/acme.yaml", windowed("v2"))
	w.clone.Commit("acme v2 again")
	w.clone.Push()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := predict(t, cache, "acme"); info.Version != "v1" || reconciler.ReasonOf(r.Status()["acme"].Err) != reconciler.ReasonWaitingForWindow {
		t.Fatalf("acme serves %s outside the window (status %+v)", info.Version, r.Status()["acme"])
	}
}

// TestSuspend: a suspended org keeps serving what it has, whatever its file now desires,
// until it is resumed.
func TestSuspend(t *testing.T) {
	w := newWorld(t)
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "v2", "pdm-v2.onnx")
	w.desire("acme v1", map[string]string{"acme": "v1"})
	r, cache, _ := w.reconciler("")
	ctx := context.Background()
	mustPass(t, r.ReconcileOnce(ctx))
	w.clone.Write("orgs/acme.yaml", orgYAML("acme", w.repo("acme"), "v2")+"suspend: true\n")
	w.clone.Commit("acme v2, suspended")
	w.clone.Push()
	mustPass(t, r.ReconcileOnce(ctx))
	if info, _ := predict(t, cache, "acme"); info.Version != "v1" || !r.Status()["acme"].Suspended {
		t.Fatalf("suspended acme serves %s (status %+v), want v1", info.Version, r.Status()["acme"])
	}
	w.desire("acme v2, resumed", map[string]string{"acme": "v2"})
	mustPass(t, r.ReconcileOnce(ctx))
	if info, _ := predict(t, cache, "acme"); info.Version != "v2" || r.Status()["acme"].Suspended {
		t.Fatalf("resumed acme serves %s, want v2", info.Version)
	}
}
