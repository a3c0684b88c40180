package reconciler_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/reconciler/store"
)

// TestHousekeeping: the outgoing version is backed up before a swap; a deployed directory
// removed or changed behind Talon's back is restored from the store; retention on its
// schedule deletes old versions but never the deployed or the last known-good one.
func TestHousekeeping(t *testing.T) {
	w := newWorld(t)
	for _, tag := range []string{"v1", "v2", "v3"} {
		file := map[string]string{"v1": "pdm-v1.onnx", "v2": "pdm-v2.onnx", "v3": "pdm-v1.onnx"}[tag]
		w.push("acme", tag, file)
	}
	org := func(tag string) string {
		return orgYAML("acme", w.repo("acme"), tag) + "retention: {maxVersions: 1, keepDeployed: 0, schedule: \"@hourly\"}\n"
	}
	w.key(t, "acme")
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	r, cache, st := clockedReconciler(t, w, func() time.Time { return now })
	ctx := context.Background()
	for _, tag := range []string{"v1", "v2", "v3"} {
		w.clone.Write("orgs/acme.yaml", org(tag))
		w.clone.Commit("acme " + tag)
		w.clone.Push()
		mustPass(t, r.ReconcileOnce(ctx))
		now = now.Add(time.Minute)
	}
	if info, _ := predict(t, cache, "acme"); info.Version != "v3" {
		t.Fatalf("acme serves %s", info.Version)
	}
	backups, err := st.Backups("acme")
	if err != nil || len(backups) != 2 {
		t.Fatalf("backups = %v, %v; want v1 and v2 kept before their swaps", backups, err)
	}

	// Drift: the deployed symlink is removed behind Talon's back.
	link := filepath.Join(st.Root(), "models", "acme", store.DeployedLink)
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	r.Housekeep(ctx)
	if _, rec, _, err := st.Deployed("acme"); err != nil || rec.Version != "v3" {
		t.Fatalf("after drift repair deployed = %q, %v", rec.Version, err)
	}

	// Retention is due on the next hour: with maxVersions 1, v1 goes; v3 is deployed and
	// v2 the last known-good (replaced while serving without trouble), so both stay.
	now = now.Add(time.Hour)
	r.Housekeep(ctx)
	vs, err := st.Versions("acme")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, v := range vs {
		left = append(left, v.Record.Version)
	}
	if len(left) != 2 || left[0] != "v3" || left[1] != "v2" {
		t.Fatalf("versions after retention = %v, want [v3 v2]", left)
	}
}
