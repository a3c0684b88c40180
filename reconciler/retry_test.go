package reconciler_test

import (
	"context"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

func TestBackoffCappedAndJittered(t *testing.T) {
	b := reconciler.Backoff{Base: time.Second, Max: 8 * time.Second}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 9: 8 * time.Second} {
		for range 50 {
			if d := b.Delay(attempt); d < want/2 || d > want {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

// TestRetryByKind: a transient failure (the tag is not pushed yet) is retried once its
// backoff has passed and then succeeds; a stalled one (not ONNX) is not retried while
// the desired state stays the same.
func TestRetryByKind(t *testing.T) {
	w := newWorld(t)
	w.push("acme", "junk", "not-onnx.onnx")
	w.desire("acme on v1 before CI pushed it; globex on junk", map[string]string{"acme": "v1"})
	w.key(t, "globex")
	w.clone.Write("orgs/globex.yaml", orgYAML("globex", w.repo("acme"), "junk"))
	w.clone.Commit("globex on junk")
	w.clone.Push()

	now := time.Unix(1_700_000_000, 0)
	r, cache, _ := clockedReconciler(t, w, func() time.Time { return now })
	ctx := context.Background()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	acme, globex := r.Status()["acme"], r.Status()["globex"]
	if reconciler.KindOf(acme.Err) != reconciler.Transient || acme.Attempts != 1 || !acme.NextAttempt.After(now) {
		t.Fatalf("acme = %+v, want a transient failure with a backoff", acme)
	}
	if reconciler.KindOf(globex.Err) != reconciler.Stalled {
		t.Fatalf("globex = %+v, want stalled", globex)
	}

	w.push("acme", "v1", "pdm-v1.onnx") // CI catches up
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if s := r.Status()["acme"]; s.Applied || s.Attempts != 1 {
		t.Fatalf("acme retried before its backoff passed: %+v", s)
	}
	now = now.Add(time.Hour)
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if s := r.Status()["acme"]; !s.Applied || s.Attempts != 0 || s.Phase != reconciler.PhaseDeployed {
		t.Fatalf("acme after backoff = %+v, want deployed", s)
	}
	if info, p := predict(t, cache, "acme"); info.Version != "v1" || !near(p, expect(pdm.V1())) {
		t.Fatalf("acme serves %s", info.Version)
	}
	if s := r.Status()["globex"]; s.At != globex.At {
		t.Fatalf("stalled globex was retried without a change: %+v", s)
	}
}

// TestRevertWithRegistryDown: a person's git revert rolls acme back to v1 from the local
// store while the registry is unreachable.
func TestRevertWithRegistryDown(t *testing.T) {
	w := newWorld(t)
	host, stop, err := registrytest.Serve()
	if err != nil {
		t.Fatal(err)
	}
	w.reg = host
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "v2", "pdm-v2.onnx")
	w.desire("acme v1", map[string]string{"acme": "v1"})
	r, cache, _ := w.reconciler("")
	ctx := context.Background()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	bump := w.desire("acme v2", map[string]string{"acme": "v2"})
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := predict(t, cache, "acme"); info.Version != "v2" {
		t.Fatalf("acme serves %s, want v2", info.Version)
	}
	stop()
	w.clone.Revert(bump)
	w.clone.Push()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	info, p := predict(t, cache, "acme")
	if info.Version != "v1" || info.Digest != w.digests["acme:v1"] || !near(p, expect(pdm.V1())) {
		t.Fatalf("after revert with the registry down acme serves %+v (p=%v), want v1 %s; status %+v", info, p, w.digests["acme:v1"], r.Status()["acme"])
	}
}

// clockedReconciler is a reconciler over a fresh data dir whose clock is now.
func clockedReconciler(t *testing.T, w *world, now func() time.Time) (*reconciler.Reconciler, *inference.Cache, *store.Store) {
	t.Helper()
	return w.newReconciler(t, "", reconciler.Options{Now: now})
}
