package reconciler_test

import (
	"context"
	"errors"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference/metrics"
	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// TestPullLoadsOnlyVerifiedBytes: the load of a pulled model starts while the store is
// still making it durable, but only once the registry reader has verified every byte. A
// registry that serves another valid ONNX model of the same size under the pushed digest
// gets nothing loaded, and each good pull is loaded exactly once, from the stored version.
func TestPullLoadsOnlyVerifiedBytes(t *testing.T) {
	const size = 3<<20 + 12345 // more than one direct I/O buffer, not a multiple of a block
	pushed, digest := paddedModel(t, pdm.V1(), size)
	served, _ := paddedModel(t, pdm.V2(), size)
	pb, err := os.ReadFile(pushed)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := os.ReadFile(served)
	if err != nil {
		t.Fatal(err)
	}
	if len(pb) != len(sb) {
		t.Fatalf("setup: padded models are %d and %d bytes, want equal sizes", len(pb), len(sb))
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, registrytest.ReplaceBlob(h, sb))
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "swapped", pushed)
	w.push("acme", "v2", "pdm-v2.onnx")
	mx := metrics.New(metrics.Options{})
	r, cache, st := w.newReconciler(t, "", reconciler.Options{Metrics: mx})
	ctx := context.Background()

	tests := []struct {
		tag, serving string
		wantErr      error
		loads        float64 // talon_model_loads_total for acme so far
	}{
		{tag: "v1", serving: "v1", loads: 1},
		{tag: "swapped", serving: "v1", wantErr: registry.ErrDigestMismatch, loads: 1},
		{tag: "v2", serving: "v2", loads: 2},
	}
	for _, tc := range tests {
		t.Run(tc.tag, func(t *testing.T) {
			w.desire("acme: "+tc.tag, map[string]string{"acme": tc.tag})
			if err := r.ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r.Status()["acme"].Err; !errors.Is(err, tc.wantErr) {
				t.Fatalf("acme status error = %v, want %v", err, tc.wantErr)
			}
			if got := loadCount(t, mx, "acme"); got != tc.loads {
				t.Errorf("acme model loads = %v, want %v", got, tc.loads)
			}
			if info, _ := predict(t, cache, "acme"); info.Version != tc.serving {
				t.Errorf("acme serves %s, want %s", info.Version, tc.serving)
			}
			if _, rec, _, err := st.Deployed("acme"); err != nil || rec.Version != tc.serving {
				t.Errorf("acme deployed on disk = %q, %v; want %s", rec.Version, err, tc.serving)
			}
			if _, err := st.Lookup("acme", "swapped"); tc.tag == "swapped" && err == nil {
				t.Error("the substituted bytes were stored")
			}
		})
	}
}

// loadCount sums talon_model_loads_total of org over outcomes.
func loadCount(t *testing.T, mx *metrics.Metrics, org string) float64 {
	t.Helper()
	fams, err := mx.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, f := range fams {
		if f.GetName() != "talon_model_loads_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "org" && l.GetValue() == org {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
