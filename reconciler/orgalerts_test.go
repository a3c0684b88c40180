package reconciler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestOrgAlertTargets: an org's own `alerts:` section (URL from the environment) receives
// that org's events and no other org's.
func TestOrgAlertTargets(t *testing.T) {
	got := make(chan map[string]any, 8)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		json.NewDecoder(r.Body).Decode(&ev)
		got <- ev
	}))
	defer sink.Close()
	t.Setenv("ACME_ALERT_URL", sink.URL+"/acme")

	w := newWorld(t)
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("globex", "v1", "pdm-v1.onnx")
	w.key(t, "acme")
	w.key(t, "globex")
	w.clone.Write("orgs/acme.yaml", orgYAML("acme", w.repo("acme"), "v1")+"alerts: [{name: ops, urlFromEnv: ACME_ALERT_URL, events: [deployed]}]\n")
	w.clone.Write("orgs/globex.yaml", orgYAML("globex", w.repo("globex"), "v1"))
	w.clone.Commit("acme and globex, acme with an alert target")
	w.clone.Push()
	r, _, _ := w.reconciler("")
	mustPass(t, r.ReconcileOnce(context.Background()))
	select {
	case ev := <-got:
		if ev["org"] != "acme" || ev["kind"] != "Deployed" || ev["version"] != "v1" {
			t.Fatalf("alert = %v, want acme Deployed v1", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no alert for acme")
	}
	select {
	case ev := <-got:
		t.Fatalf("unexpected second alert %v (globex's events must not reach acme's target)", ev)
	case <-time.After(300 * time.Millisecond):
	}
}
