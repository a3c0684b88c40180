package watch_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/watch"
	"github.com/eaglenotifier/talon/reconciler/store"
)

func initRuntime(t *testing.T) {
	t.Helper()
	path, err := inference.FindORTLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	if err := inference.InitRuntime(path); err != nil {
		t.Fatal(err)
	}
}

// storeLoader reads org's deployed model from st, as `talon serve` does.
func storeLoader(st *store.Store) watch.Loader {
	return func(ctx context.Context, org string) ([]byte, inference.ModelInfo, error) {
		b, rec, dep, err := st.Deployed(org)
		if err != nil {
			return nil, inference.ModelInfo{}, err
		}
		return b, inference.ModelInfo{Org: org, Version: rec.Version, Digest: rec.Digest, ConfigCommit: dep.ConfigCommit}, nil
	}
}

// openStore opens a store in a temp dir: encrypted at rest with a key per org
// when orgs are given (as in production), else plaintext.
func openStore(t *testing.T, orgs ...string) (string, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	opt := store.WithoutEncryptionUnsafe()
	if len(orgs) > 0 {
		keys := filepath.Join(t.TempDir(), "keys")
		for _, org := range orgs {
			if _, err := store.GenerateKey(keys, org); err != nil {
				t.Fatal(err)
			}
		}
		opt = store.WithKeyDir(keys)
	}
	st, err := store.Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return dir, st
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "pdm", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deploy stores data as org's version and deploys it from commit.
func deploy(t *testing.T, st *store.Store, org, version, commit string, data []byte) {
	t.Helper()
	sum := sha256.Sum256(data)
	rec := store.Record{Org: org, Version: version, Digest: "sha256:" + hex.EncodeToString(sum[:]), ModelDigest: "sha256:" + hex.EncodeToString(sum[:])}
	if _, err := st.Put(context.Background(), rec, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := st.Deploy(context.Background(), org, version, commit); err != nil {
		t.Fatal(err)
	}
}

// predict runs org's serving model on one PdM sample.
func predict(t *testing.T, c *inference.Cache, org string, x [pdm.NumFeatures]float32) (float32, inference.ModelInfo) {
	t.Helper()
	m, release, ok := c.Acquire(org)
	if !ok {
		t.Fatalf("%s is not served", org)
	}
	defer release()
	out, err := m.Infer(context.Background(), []inference.Tensor{{Name: pdm.InputName, Datatype: inference.FP32, Shape: []int64{1, 6}, Data: x[:]}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Data.([]float32)[0], m.Info()
}

type brief struct {
	Org, Kind, Version, Previous string
	Failed                       bool
}

func briefs(evs []watch.Event) []brief {
	var out []brief
	for _, e := range evs {
		out = append(out, brief{Org: e.Org, Kind: e.Kind.String(), Version: e.Info.Version, Previous: e.Previous.Version, Failed: e.Err != nil})
	}
	return out
}

func TestWatcherFollowsDeployedLink(t *testing.T) {
	initRuntime(t)
	dir, st := openStore(t, "acme")
	c := inference.NewCache()
	t.Cleanup(c.Close)
	var events []watch.Event
	w := watch.New(dir, c, storeLoader(st), watch.Options{RetryInterval: time.Hour, OnEvent: func(e watch.Event) { events = append(events, e) }})
	sync := func() []brief {
		t.Helper()
		events = nil
		if err := w.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		return briefs(events)
	}
	x := pdm.Dataset(9, 1)[0].X
	tolerance := func(got, want float32) bool { return got-want < 1e-5 && want-got < 1e-5 }

	if got := sync(); len(got) != 0 || len(c.Orgs()) != 0 || !w.Synced() {
		t.Fatalf("empty data dir: events %v, orgs %v, synced %v", got, c.Orgs(), w.Synced())
	}
	deploy(t, st, "acme", "v1", "aaaa111", testdata(t, "pdm-v1.onnx"))
	deployed := filepath.Join(dir, "models", "acme", watch.DeployedLink)
	if _, err := os.Stat(filepath.Join(deployed, store.EncryptedModelFile)); err != nil {
		t.Fatalf("the store did not encrypt the deployed model: %v", err)
	}
	if _, err := os.Stat(filepath.Join(deployed, store.ModelFile)); err == nil {
		t.Fatal("plaintext model in an encrypted store's deploy dir")
	}
	if err := os.MkdirAll(filepath.Join(dir, "models", "Not_An_Org"), 0o700); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		change  func()
		want    []brief
		version string // serving version of acme after the pass
		weights pdm.Weights
	}{
		{"first deploy", func() {}, []brief{{Org: "acme", Kind: "swapped", Version: "v1"}}, "v1", pdm.V1()},
		{"nothing changed", func() {}, nil, "v1", pdm.V1()},
		{"swap to v2", func() { deploy(t, st, "acme", "v2", "bbbb222", testdata(t, "pdm-v2.onnx")) },
			[]brief{{Org: "acme", Kind: "swapped", Version: "v2", Previous: "v1"}}, "v2", pdm.V2()},
		{"corrupt model keeps v2", func() { deploy(t, st, "acme", "v3", "cccc333", testdata(t, "not-onnx.onnx")) },
			[]brief{{Org: "acme", Kind: "failed", Version: "v3", Failed: true}}, "v2", pdm.V2()},
		{"failed target is not retried at once", func() {}, nil, "v2", pdm.V2()},
		{"rollback to v1", func() {
			if err := st.Deploy(context.Background(), "acme", "v1", "dddd444"); err != nil {
				t.Fatal(err)
			}
		}, []brief{{Org: "acme", Kind: "swapped", Version: "v1", Previous: "v2"}}, "v1", pdm.V1()},
		{"same deployment in a new dir", func() {
			if err := st.Deploy(context.Background(), "acme", "v1", "dddd444"); err != nil {
				t.Fatal(err)
			}
		}, nil, "v1", pdm.V1()},
	}
	for _, s := range steps {
		s.change()
		if diff := cmp.Diff(s.want, sync()); diff != "" {
			t.Fatalf("%s: events (-want +got):\n%s", s.name, diff)
		}
		p, info := predict(t, c, "acme", x)
		if info.Version != s.version || !tolerance(p, pdm.Predict(s.weights, x)) {
			t.Fatalf("%s: serving %s predicting %v, want %s predicting %v", s.name, info.Version, p, s.version, pdm.Predict(s.weights, x))
		}
	}
	if info, _, _ := c.Get("acme"); info.ConfigCommit != "dddd444" {
		t.Errorf("provenance %+v, want config commit dddd444", info)
	}

	// The deployed link disappears: the watcher removes the model it loaded.
	if err := os.Remove(filepath.Join(dir, "models", "acme", watch.DeployedLink)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]brief{{Org: "acme", Kind: "removed", Version: "v1"}}, sync()); diff != "" || len(c.Orgs()) != 0 {
		t.Fatalf("after unlink: orgs %v, events (-want +got):\n%s", c.Orgs(), diff)
	}
}

// A corrupt model is retried after RetryInterval, and a model that loads
// after all replaces the old one.
func TestWatcherRetriesFailedTarget(t *testing.T) {
	initRuntime(t)
	dir, st := openStore(t)
	c := inference.NewCache()
	t.Cleanup(c.Close)
	fail := true
	load := func(ctx context.Context, org string) ([]byte, inference.ModelInfo, error) {
		b, info, err := storeLoader(st)(ctx, org)
		if fail {
			b = testdata(t, "not-onnx.onnx")
		}
		return b, info, err
	}
	var events []watch.Event
	w := watch.New(dir, c, load, watch.Options{RetryInterval: time.Nanosecond, OnEvent: func(e watch.Event) { events = append(events, e) }})
	deploy(t, st, "globex", "v1", "eeee555", testdata(t, "pdm-v1.onnx"))
	w.Sync(context.Background())
	fail = false
	w.Sync(context.Background())
	want := []brief{{Org: "globex", Kind: "failed", Version: "v1", Failed: true}, {Org: "globex", Kind: "swapped", Version: "v1"}}
	if diff := cmp.Diff(want, briefs(events)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if events[0].Load <= 0 || events[1].Swap <= 0 {
		t.Errorf("durations not measured: %+v", events)
	}
}

// Run notices a swapped link by itself and stops with its context.
func TestWatcherRun(t *testing.T) {
	initRuntime(t)
	dir, st := openStore(t)
	deploy(t, st, "acme", "v1", "f00d001", testdata(t, "pdm-v1.onnx"))
	c := inference.NewCache()
	t.Cleanup(c.Close)
	events := make(chan watch.Event, 16)
	w := watch.New(dir, c, storeLoader(st), watch.Options{Interval: 5 * time.Millisecond, OnEvent: func(e watch.Event) { events <- e }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	next := func() watch.Event {
		select {
		case e := <-events:
			return e
		case <-time.After(30 * time.Second):
			t.Fatal("no event within 30s")
		}
		return watch.Event{}
	}
	if e := next(); e.Kind != watch.Swapped || e.Info.Version != "v1" {
		t.Fatalf("first event %+v", e)
	}
	deploy(t, st, "acme", "v2", "f00d002", testdata(t, "pdm-v2.onnx"))
	if e := next(); e.Kind != watch.Swapped || e.Info.Version != "v2" || e.Previous.Version != "v1" {
		t.Fatalf("second event %+v", e)
	}
	if info, _, _ := c.Get("acme"); info.Version != "v2" {
		t.Errorf("serving %+v", info)
	}
	cancel()
	<-done
}
