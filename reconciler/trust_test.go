package reconciler_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/registry/cosign"
)

// TestTrust: only digests signed by a key the org trusts are deployed. Unsigned artifacts,
// artifacts signed by another org's key (even in a repository the org reads), and orgs
// without trusted keys are refused, each with its own reason, while the last good model
// keeps serving; trust.allowUnsigned deploys unsigned artifacts on purpose.
func TestTrust(t *testing.T) {
	w := newWorld(t)
	globexSigner, globexPub := newSigner(t)
	w.clone.Write("keys/globex.pub", string(globexPub))
	w.push("acme", "v1", "pdm-v1.onnx")
	w.pushUnsigned("acme", "unsigned", "pdm-v2.onnx")
	d := w.pushUnsigned("acme", "globex-signed", "pdm-v2.onnx")
	digest, _ := name.NewDigest(w.repo("acme")+"@"+d, name.Insecure)
	if _, err := cosign.Sign(context.Background(), w.client, digest, globexSigner); err != nil {
		t.Fatal(err)
	}
	w.desire("acme v1", map[string]string{"acme": "v1"})
	r, cache, _ := w.reconciler("")
	ctx := context.Background()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, file, reason string
		kind               reconciler.Kind
	}{
		{"unsigned", orgYAML("acme", w.repo("acme"), "unsigned"), "Unsigned", reconciler.Transient},
		{"signed by another org's key", orgYAML("acme", w.repo("acme"), "globex-signed"), "UntrustedSigner", reconciler.Stalled},
		{"no trusted keys", "org: acme\nmodel: {repository: " + w.repo("acme") + ", version: v1}\n", "InvalidConfig", reconciler.Stalled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.clone.Write("orgs/acme.yaml", tc.file)
			w.clone.Commit("acme: " + tc.name)
			w.clone.Push()
			if err := r.ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
			s := r.Status()["acme"]
			if s.Applied || reconciler.ReasonOf(s.Err) != tc.reason || reconciler.KindOf(s.Err) != tc.kind {
				t.Fatalf("acme: applied %v, reason %s, kind %v, err %v; want %s (%v)", s.Applied, reconciler.ReasonOf(s.Err), reconciler.KindOf(s.Err), s.Err, tc.reason, tc.kind)
			}
			if info, _ := predict(t, cache, "acme"); info.Version != "v1" {
				t.Fatalf("acme serves %s, want v1", info.Version)
			}
		})
	}
	if s := r.Status()["acme"]; !strings.Contains(s.Err.Error(), "trust") {
		t.Errorf("the no-keys problem does not mention trust: %v", s.Err)
	}

	t.Run("the other org trusts its own key for the same artifact", func(t *testing.T) {
		w.key(t, "globex")
		w.clone.Write("orgs/globex.yaml", "org: globex\nmodel: {repository: "+w.repo("acme")+", version: globex-signed}\ntrust: {keys: [keys/globex.pub]}\n")
		w.clone.Commit("globex reads acme's repository")
		w.clone.Push()
		if err := r.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if info, _ := predict(t, cache, "globex"); info.Version != "globex-signed" {
			t.Fatalf("globex serves %q, status %+v", info.Version, r.Status()["globex"])
		}
	})

	t.Run("allowUnsigned deploys unsigned on purpose", func(t *testing.T) {
		w.clone.Write("orgs/acme.yaml", "org: acme\nmodel: {repository: "+w.repo("acme")+", version: unsigned}\ntrust: {allowUnsigned: true}\n")
		w.clone.Commit("acme: allow unsigned")
		w.clone.Push()
		if err := r.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if info, _ := predict(t, cache, "acme"); info.Version != "unsigned" {
			t.Fatalf("acme serves %s, status %+v", info.Version, r.Status()["acme"])
		}
	})
}
