package reconciler_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/reconciler"
)

// TestQualityGate: with thresholds in the org file, a candidate deploys only when its
// accuracy, latency and schema on the validation set pass; each refusal names the failed
// check with the numbers side by side, keeps the last good model serving, and the report
// is kept with the version.
func TestQualityGate(t *testing.T) {
	w := newWorld(t)
	slow, err := pdm.SlowModel(pdm.V1(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	slowPath := filepath.Join(t.TempDir(), "pdm-slow.onnx")
	if err := os.WriteFile(slowPath, slow, 0o644); err != nil {
		t.Fatal(err)
	}
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "poor", "pdm-poor.onnx")
	w.push("acme", "shape", "pdm-wrong-shape.onnx")
	w.push("acme", "slow", slowPath)
	gated := func(tag, extra string) string {
		return orgYAML("acme", w.repo("acme"), tag) + "validation:\n  minAccuracy: 0.9\n  maxP99Latency: 2ms\n" +
			"  schema: {inputs: [{name: sensors, datatype: FP32, shape: [-1, 6]}], outputs: [{name: failure_probability, datatype: FP32, shape: [-1, 1]}]}\n" + extra
	}
	w.key(t, "acme")
	ctx := context.Background()
	r, cache, st := w.reconciler("")

	t.Run("wrong input shape", func(t *testing.T) {
		w.clone.Write("orgs/acme.yaml", gated("shape", ""))
		w.clone.Commit("acme shape")
		w.clone.Push()
		mustPass(t, r.ReconcileOnce(ctx))
		s := r.Status()["acme"]
		if reconciler.ReasonOf(s.Err) != "GateFailed" || !strings.Contains(s.Err.Error(), "input sensors") {
			t.Fatalf("status %+v, want GateFailed on input sensors", s)
		}
		if _, _, ok := cache.Get("acme"); ok {
			t.Fatal("a model that failed the gate is serving")
		}
	})
	t.Run("good model passes", func(t *testing.T) {
		w.clone.Write("orgs/acme.yaml", gated("v1", ""))
		w.clone.Commit("acme v1")
		w.clone.Push()
		mustPass(t, r.ReconcileOnce(ctx))
		if info, _ := predict(t, cache, "acme"); info.Version != "v1" {
			t.Fatalf("acme serves %q, status %+v", info.Version, r.Status()["acme"])
		}
		b, err := st.Report("acme", "v1")
		var rec reconciler.GateRecord
		if err != nil || json.Unmarshal(b, &rec) != nil || !rec.Passed || rec.Report.Rows != 500 || rec.Report.Accuracy < 0.9 {
			t.Fatalf("kept report = %s, %v", b, err)
		}
	})
	for _, tc := range []struct{ tag, check string }{{"poor", "accuracy"}, {"slow", "p99Latency"}} {
		t.Run(tc.tag, func(t *testing.T) {
			w.clone.Write("orgs/acme.yaml", gated(tc.tag, ""))
			w.clone.Commit("acme " + tc.tag)
			w.clone.Push()
			mustPass(t, r.ReconcileOnce(ctx))
			s := r.Status()["acme"]
			if reconciler.ReasonOf(s.Err) != "GateFailed" || !strings.Contains(s.Err.Error(), tc.check) || !strings.Contains(s.Err.Error(), "limit") {
				t.Fatalf("status err %v, want GateFailed naming %s with its limit", s.Err, tc.check)
			}
			if info, _ := predict(t, cache, "acme"); info.Version != "v1" {
				t.Fatalf("acme serves %s, want v1", info.Version)
			}
		})
	}
	t.Run("dataset from the config repo", func(t *testing.T) {
		b, _ := os.ReadFile(filepath.Join(testdataDir, "validation.csv"))
		w.clone.Write("data/validation.csv", string(b))
		w.clone.Write("orgs/acme.yaml", gated("poor", "  dataset: {from: repo, path: data/validation.csv}\n"))
		w.clone.Commit("acme poor, repo dataset")
		w.clone.Push()
		mustPass(t, r.ReconcileOnce(ctx))
		if s := r.Status()["acme"]; reconciler.ReasonOf(s.Err) != "GateFailed" {
			t.Fatalf("status %+v, want GateFailed", s)
		}
	})
}

func mustPass(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
