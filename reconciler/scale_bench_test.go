package reconciler_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

const scaleOrgs = 1000

// scaleWorld is a config repo with scaleOrgs orgs, each with its own 64 KiB artifact.
func scaleWorld(b *testing.B) *world {
	b.Helper()
	initORT(b)
	model, err := pdm.ModelWithPadding(pdm.V1(), 64<<10)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "model.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	gittest.NewBareRepo(b, root, "config")
	url := gittest.StartDaemon(b, root) + "/config.git"
	client, err := registry.New()
	if err != nil {
		b.Fatal(err)
	}
	w := &world{repoURL: url, reg: registrytest.Start(b), client: client, digests: map[string]string{}, keys: b.TempDir()}
	w.signer, w.pubPEM = newSigner(b)
	clone := gittest.Clone(b, url, filepath.Join(b.TempDir(), "work"))
	clone.Write("keys/ci.pub", string(w.pubPEM))
	for i := range scaleOrgs {
		org := fmt.Sprintf("org-%04d", i)
		w.key(b, org)
		d, err := client.Push(context.Background(), w.repo(org)+":v1", registry.PushInput{ModelPath: path})
		if err == nil {
			_, err = cosign.Sign(context.Background(), client, d, w.signer)
		}
		if err != nil {
			b.Fatal(err)
		}
		clone.Write("orgs/"+org+".yaml", orgYAML(org, w.repo(org), "v1"))
	}
	clone.Commit("1000 orgs")
	clone.Push()
	return w
}

// BenchmarkColdStart1000Orgs: from an empty data dir, one pass deploys and serves 1000
// orgs with 64 KiB artifacts (fetch, parse, resolve, pull, verify, store, load, deploy,
// swap each). Also reports the no-change poll over the same 1000 orgs, which must fetch
// no objects.
func BenchmarkColdStart1000Orgs(b *testing.B) {
	w := scaleWorld(b)
	w.t = nil
	var cold, idle time.Duration
	for b.Loop() {
		b.StopTimer()
		r, cache, _ := w.reconcilerB(b)
		b.StartTimer()
		start := time.Now()
		if err := r.ReconcileOnce(context.Background()); err != nil {
			b.Fatal(err)
		}
		cold += time.Since(start)
		b.StopTimer()
		if n := len(cache.Orgs()); n != scaleOrgs {
			b.Fatalf("%d orgs serving, want %d", n, scaleOrgs)
		}
		start = time.Now()
		if err := r.ReconcileOnce(context.Background()); err != nil {
			b.Fatal(err)
		}
		idle += time.Since(start)
		cache.Close()
		b.StartTimer()
	}
	b.ReportMetric(cold.Seconds()/float64(b.N), "s/cold-pass")
	b.ReportMetric(float64(idle.Microseconds())/1000/float64(b.N), "ms/no-change-poll")
}
