package reconciler_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// TestBadInputKeepsLastGoodModel walks acme through a series of bad desired states, each
// committed together with a good change for globex: every bad one is refused with a clear
// reason, acme keeps serving v1 (in memory and on disk), and globex is never held back.
func TestBadInputKeepsLastGoodModel(t *testing.T) {
	poor, err := os.ReadFile(filepath.Join(testdataDir, "pdm-poor.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	// The registry serves other bytes of the same length for pdm-poor.onnx's blob.
	corrupt := registrytest.ReplaceBlob(fileDigest(t, "pdm-poor.onnx"), bytes.Repeat([]byte{'x'}, len(poor)))
	w := newWorld(t, corrupt)
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "corrupt", "pdm-poor.onnx")
	w.push("acme", "junk", "not-onnx.onnx")
	w.push("acme", "shape", "pdm-wrong-shape.onnx")
	w.push("globex", "v1", "pdm-v1.onnx")
	w.push("globex", "v2", "pdm-v2.onnx")
	w.desire("v1 for everyone", map[string]string{"acme": "v1", "globex": "v1"})

	r, cache, st := w.reconciler("")
	ctx := context.Background()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if info, p := predict(t, cache, "acme"); info.Version != "v1" || !near(p, expect(pdm.V1())) {
		t.Fatalf("acme serves %s (p=%v), want v1 (p=%v)", info.Version, p, expect(pdm.V1()))
	}

	tests := []struct {
		name, tag string
		check     func(error) bool
		want      string
		kind      reconciler.Kind
	}{
		{"registry serves corrupted bytes", "corrupt", func(err error) bool { return errors.Is(err, registry.ErrDigestMismatch) }, "digest", reconciler.Transient},
		{"tag does not exist", "v404", func(err error) bool { return errors.Is(err, registry.ErrNotFound) }, "v404", reconciler.Transient},
		{"not an ONNX model", "junk", func(err error) bool { return reconciler.ReasonOf(err) == "LoadFailed" }, "junk", reconciler.Stalled},
		{"inputs differ from the serving model", "shape", func(err error) bool { return reconciler.ReasonOf(err) == "SchemaChanged" }, "sensors", reconciler.Stalled},
	}
	globexTag := "v1"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			globexTag = map[string]string{"v1": "v2", "v2": "v1"}[globexTag]
			w.desire("acme: "+tc.tag, map[string]string{"acme": tc.tag, "globex": globexTag})
			if err := r.ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
			s := r.Status()["acme"]
			if s.Applied || s.Err == nil || !tc.check(s.Err) || !strings.Contains(s.Err.Error(), tc.want) {
				t.Fatalf("acme status = applied %v, err %v; want a refusal mentioning %q", s.Applied, s.Err, tc.want)
			}
			if k := reconciler.KindOf(s.Err); k != tc.kind || s.Phase != reconciler.PhaseFailed {
				t.Errorf("kind %v phase %s, want %v Failed", k, s.Phase, tc.kind)
			}
			if !strings.Contains(s.Err.Error(), w.repo("acme")+":"+tc.tag) {
				t.Errorf("error does not name the reference: %v", s.Err)
			}
			if info, p := predict(t, cache, "acme"); info.Version != "v1" || !near(p, expect(pdm.V1())) {
				t.Fatalf("acme serves %s (p=%v) after a bad change, want v1", info.Version, p)
			}
			if _, rec, _, err := st.Deployed("acme"); err != nil || rec.Version != "v1" {
				t.Fatalf("acme deployed on disk = %q, %v; want v1", rec.Version, err)
			}
			if info, _ := predict(t, cache, "globex"); info.Version != globexTag {
				t.Fatalf("globex serves %s, want %s: a bad acme blocked it", info.Version, globexTag)
			}
		})
	}

	t.Run("org name with ../", func(t *testing.T) {
		w.clone.Write("orgs/evil.yaml", orgYAML("../evil", w.repo("acme"), "v1"))
		w.desire("evil", map[string]string{"acme": "v1"})
		if err := r.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		s := r.Status()["evil"]
		if s.Err == nil || !strings.Contains(s.Err.Error(), "orgs/evil.yaml:1:6") || !strings.Contains(s.Err.Error(), "not a lowercase DNS label") {
			t.Fatalf("evil status err = %v, want a positioned org-name problem", s.Err)
		}
		if _, err := os.Stat(filepath.Join(st.Root(), "evil")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("something was created outside models/: %v", err)
		}
		if _, _, ok := cache.Get("../evil"); ok {
			t.Fatal("../evil is serving")
		}
		if info, _ := predict(t, cache, "acme"); info.Version != "v1" {
			t.Fatalf("acme serves %s, want v1", info.Version)
		}
	})
}
