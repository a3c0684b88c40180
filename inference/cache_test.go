package inference

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/inference/internal/ortest"
)

func TestCacheHotSwapUnderLoad(t *testing.T) {
	initORT(t)
	onnx := ortest.Model(t, "sklearn_randomforest.onnx")
	load := func(version string) *Model {
		m, err := LoadModel(context.Background(), onnx, ModelInfo{Org: "acme", Version: version}, LoadOptions{WarmupRuns: -1})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	const (
		workers = 8
		swaps   = 50
	)
	c := NewCache()
	first := load("v1")
	c.Swap("acme", first)
	loaded := []*Model{first}

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		requests atomic.Int64
		failures = make(chan error, workers)
		seen     [workers]map[string]int
	)
	in := []Tensor{{Name: "X", Datatype: FP32, Shape: []int64{3, 4}, Data: irisRows(3)}}
	for w := 0; w < workers; w++ {
		seen[w] = map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				m, release, ok := c.Acquire("acme")
				if !ok {
					failures <- fmt.Errorf("acme not served")
					return
				}
				out, err := m.Infer(context.Background(), in, nil)
				version := m.Info().Version
				release()
				if err != nil {
					failures <- err
					return
				}
				if d := cmp.Diff([]int64{0, 1, 2}, out[0].Data); d != "" {
					failures <- fmt.Errorf("%s: wrong labels: %s", version, d)
					return
				}
				seen[w][version]++
				requests.Add(1)
			}
		}()
	}
	for i := 1; i <= swaps; i++ {
		next := load([]string{"v1", "v2"}[i%2])
		old := c.Swap("acme", next)
		if old != loaded[len(loaded)-1] {
			t.Errorf("swap %d returned %p, want the previous model %p", i, old, loaded[len(loaded)-1])
		}
		loaded = append(loaded, next)
	}
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Errorf("request failed: %v", err)
	}
	total := map[string]int{}
	for w := range seen {
		for v, n := range seen[w] {
			total[v] += n
		}
	}
	for v := range total {
		if v != "v1" && v != "v2" {
			t.Errorf("a response came from version %q", v)
		}
	}
	t.Logf("%d requests during %d swaps: %v", requests.Load(), swaps, total)
	if requests.Load() == 0 {
		t.Fatal("no request completed")
	}
	for i, m := range loaded[:len(loaded)-1] {
		if n := m.destroyed.Load(); n != 1 {
			t.Errorf("replaced model %d (%s) destroyed %d times, want 1", i, m.Info().Version, n)
		}
	}
	last := loaded[len(loaded)-1]
	if n := last.destroyed.Load(); n != 0 {
		t.Fatalf("serving model destroyed %d times", n)
	}
	c.Close()
	if n := last.destroyed.Load(); n != 1 {
		t.Fatalf("serving model destroyed %d times after Cache.Close, want 1", n)
	}
	if _, _, ok := c.Acquire("acme"); ok {
		t.Fatal("Acquire after Close succeeded")
	}
}

func TestCacheOrgs(t *testing.T) {
	initORT(t)
	c := NewCache()
	a := loadTestModel(t, "sklearn_randomforest.onnx", ModelInfo{Org: "acme", Version: "v1", Digest: "sha256:aa", ConfigCommit: "c1"})
	g := loadTestModel(t, "example_dynamic_axes.onnx", ModelInfo{Org: "globex", Version: "v3"})
	if old := c.Swap("globex", g); old != nil {
		t.Fatalf("first Swap returned %v", old)
	}
	c.Swap("acme", a)
	if d := cmp.Diff([]string{"acme", "globex"}, c.Orgs()); d != "" {
		t.Fatalf("Orgs (-want +got):\n%s", d)
	}
	info, sig, ok := c.Get("acme")
	if !ok || info != a.Info() || !sig.Equal(a.Signature()) {
		t.Fatalf("Get(acme) = %+v, %v, %v", info, sig, ok)
	}
	if _, _, ok := c.Get("initech"); ok {
		t.Fatal("Get(initech) found a model")
	}
	if _, _, ok := c.Acquire("initech"); ok {
		t.Fatal("Acquire(initech) found a model")
	}
	if old := c.Swap("acme", a); old != nil || a.destroyed.Load() != 0 {
		t.Fatalf("swapping a model with itself returned %v, destroyed %d", old, a.destroyed.Load())
	}

	// A request holding globex's model finishes on it after Remove.
	m, release, ok := c.Acquire("globex")
	if !ok || m != g {
		t.Fatal("Acquire(globex) failed")
	}
	if !c.Remove("globex") || c.Remove("globex") {
		t.Fatal("Remove(globex) should report true once, then false")
	}
	if _, _, ok := c.Acquire("globex"); ok {
		t.Fatal("Acquire after Remove succeeded")
	}
	out, err := m.Infer(context.Background(), []Tensor{{Name: "input_vectors", Datatype: FP32, Shape: []int64{1, 10}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}}, nil)
	if err != nil || g.destroyed.Load() != 0 {
		t.Fatalf("in-flight request on a removed model: %v (destroyed %d)", err, g.destroyed.Load())
	}
	if d := cmp.Diff([]float32{55}, out[0].Data); d != "" {
		t.Fatalf("sum (-want +got):\n%s", d)
	}
	release()
	if n := g.destroyed.Load(); n != 1 {
		t.Fatalf("removed model destroyed %d times after release, want 1", n)
	}
	if d := cmp.Diff([]string{"acme"}, c.Orgs()); d != "" {
		t.Fatalf("Orgs after Remove (-want +got):\n%s", d)
	}

	// A model closed behind the cache's back is not handed out.
	a.Close()
	if _, _, ok := c.Acquire("acme"); ok {
		t.Fatal("Acquire handed out a closed model")
	}
	c.Close()
}

func TestCacheSwapDrainsOld(t *testing.T) {
	c := NewCache()
	defer c.Close()
	v1 := loadTestModel(t, "sklearn_randomforest.onnx", ModelInfo{Org: "acme", Version: "v1"})
	v2 := loadTestModel(t, "sklearn_randomforest.onnx", ModelInfo{Org: "acme", Version: "v2"})
	c.Swap("acme", v1)
	held, release, ok := c.Acquire("acme")
	if !ok || held != v1 {
		t.Fatal("Acquire(acme) did not return v1")
	}
	if old := c.Swap("acme", v2); old != v1 {
		t.Fatalf("Swap returned %v, want v1", old)
	}
	if m, rel, ok := c.Acquire("acme"); !ok || m != v2 {
		t.Fatal("Acquire after Swap did not return v2")
	} else {
		rel()
	}
	in := []Tensor{{Name: "X", Datatype: FP32, Shape: []int64{1, 4}, Data: irisRows(1)}}
	if _, err := held.Infer(context.Background(), in, nil); err != nil || v1.destroyed.Load() != 0 {
		t.Fatalf("request holding the swapped-out v1: %v (destroyed %d)", err, v1.destroyed.Load())
	}
	release()
	if v1.destroyed.Load() != 1 || v2.destroyed.Load() != 0 {
		t.Fatalf("after release: v1 destroyed %d times (want 1), v2 %d (want 0)", v1.destroyed.Load(), v2.destroyed.Load())
	}
}
