package inference

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference/internal/ortest"
)

// TestInferFuncLendsWhatInferReturns: InferFunc lends fn exactly the outputs
// Infer returns (all of them, a subset, another order), at batch sizes with
// and without a pooled set, and on a model without a plan.
func TestInferFuncLendsWhatInferReturns(t *testing.T) {
	initORT(t)
	ctx := context.Background()
	multi := loadTestModel(t, "example_multitype.onnx", ModelInfo{Org: "globex"})
	defer multi.Close()
	multiIn := []Tensor{
		{Name: "InputB", Datatype: FP64, Shape: []int64{1, 2, 2}, Data: []float64{1, -2, 3.5, 4}},
		{Name: "InputA", Datatype: UINT8, Shape: []int64{1, 1, 1}, Data: []uint8{200}},
	}
	zeroDim := loadTestModel(t, "example_0_dim_output.onnx", ModelInfo{Org: "initech"})
	defer zeroDim.Close()
	pdmIn := func(b int64) []Tensor {
		return []Tensor{{Name: pdm.InputName, Datatype: FP32, Shape: []int64{b, pdm.NumFeatures}, Data: pdmRows(int(b))}}
	}
	tests := []struct {
		name    string
		m       *Model
		in      []Tensor
		outputs []string
	}{
		{"pdm batch 1", loadPdM(t), pdmIn(1), nil},
		{"pdm batch 300, input wrapped", loadPdM(t), pdmIn(300), nil},
		{"pdm too large for a set", loadPdM(t), pdmIn(maxPooledOutElems + 1), []string{pdm.OutputName}},
		{"multitype, outputs reversed", multi, multiIn, []string{"OutputB", "OutputA"}},
		{"multitype, one output", multi, multiIn, []string{"OutputB"}},
		{"no plan", zeroDim, []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{2, 8}, Data: make([]float32, 16)}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := tt.m.Infer(ctx, tt.in, tt.outputs)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second call reuses the pooled set
				calls := 0
				err := tt.m.InferFunc(ctx, tt.in, tt.outputs, func(out []Tensor) error {
					calls++
					if diff := cmp.Diff(want, out); diff != "" {
						t.Errorf("lent outputs differ from Infer's (-Infer +lent):\n%s", diff)
					}
					return nil
				})
				if err != nil || calls != 1 {
					t.Fatalf("InferFunc: err = %v, fn called %d times, want nil and 1", err, calls)
				}
			}
		})
	}
}

// TestInferFuncErrors: fn's error comes back as is; a bad request or a closed
// model fails without calling fn; the model is held while fn runs.
func TestInferFuncErrors(t *testing.T) {
	m := loadPdM(t)
	ctx := context.Background()
	in := []Tensor{{Name: pdm.InputName, Datatype: FP32, Shape: []int64{1, pdm.NumFeatures}, Data: pdmRows(1)}}
	errFn := errors.New("fn failed")
	if err := m.InferFunc(ctx, in, nil, func([]Tensor) error { return errFn }); err != errFn {
		t.Errorf("fn failing: err = %v, want fn's error as is", err)
	}
	bad := []Tensor{{Name: pdm.InputName, Datatype: FP32, Shape: []int64{1, 5}, Data: make([]float32, 5)}}
	called := false
	if err := m.InferFunc(ctx, bad, nil, func([]Tensor) error { called = true; return nil }); !errors.Is(err, ErrBadInput) || called {
		t.Errorf("bad input: err = %v, fn called %v; want ErrBadInput, not called", err, called)
	}
	err := m.InferFunc(ctx, in, nil, func(out []Tensor) error {
		m.Close()
		if n := m.destroyed.Load(); n != 0 {
			t.Errorf("closed while fn runs: session destroyed %d times, want 0 until fn returns", n)
		}
		return nil
	})
	if err != nil || m.destroyed.Load() != 1 {
		t.Errorf("after fn returned: err = %v, destroyed %d times; want nil, 1", err, m.destroyed.Load())
	}
	called = false
	if err := m.InferFunc(ctx, in, nil, func([]Tensor) error { called = true; return nil }); !errors.Is(err, ErrClosed) || called {
		t.Errorf("closed model: err = %v, fn called %v; want ErrClosed, not called", err, called)
	}
}

// TestSetPools: a pool per batch size; small requests are copied into the set
// (bound to the session), larger ones wrapped; at most maxPools sizes get a
// pool and later sizes still get right answers; Close destroys every binding,
// and the pooled values at once or (a set the pool dropped) once garbage.
func TestSetPools(t *testing.T) {
	m := loadPdM(t)
	ctx := context.Background()
	p := m.plan
	if p == nil {
		t.Fatal("pdm has no plan")
	}
	for _, tt := range []struct {
		batch  int64
		copyIn bool
	}{{1, true}, {copyInElems / pdm.NumFeatures, true}, {copyInElems/pdm.NumFeatures + 1, false}, {1024, false}} {
		set := p.sets.get(p, m.sess, tt.batch)
		if set == nil || set.copyIn != tt.copyIn {
			t.Fatalf("batch %d: set %+v, want one with copyIn %v", tt.batch, set, tt.copyIn)
		}
		p.sets.put(set)
	}
	if set := p.sets.get(p, m.sess, maxPooledOutElems+1); set != nil {
		t.Errorf("batch %d: got a set, want none (outputs too large)", maxPooledOutElems+1)
	}
	for b := int64(1); b <= maxPools+8; b++ {
		in := []Tensor{{Name: pdm.InputName, Datatype: FP32, Shape: []int64{b, pdm.NumFeatures}, Data: pdmRows(int(b))}}
		got, err := m.Infer(ctx, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.inferAllocated(ctx, in, []int{0}, []int{0})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("batch %d (-want +got):\n%s", b, diff)
		}
	}
	if n := len(*p.sets.pools.Load()); n != maxPools || !p.sets.full.Load() {
		t.Errorf("%d pools (full %v), want %d (full)", n, p.sets.full.Load(), maxPools)
	}
	// Four sets in the pool (sync.Pool may drop some: their cleanups destroy
	// their values once they are garbage).
	var sets []*ioSet
	var vals []ort.Value
	for range 4 {
		set := p.sets.get(p, m.sess, 1)
		if set.own.binding == nil {
			t.Fatal("a set copying the request in has no binding")
		}
		sets, vals = append(sets, set), append(vals, set.own.values...)
	}
	for _, set := range sets {
		p.sets.put(set)
	}
	sets = nil
	m.Close()
	if p.sets.bindings != nil {
		t.Errorf("after Close, %d bindings are left", len(p.sets.bindings))
	}
	destroyed := func() int {
		n := 0
		for _, v := range vals {
			if v.(*ort.Tensor[float32]).GetData() == nil {
				n++
			}
		}
		return n
	}
	for i := 0; destroyed() < len(vals) && i < 100; i++ {
		runtime.GC() // a dropped set's cleanup runs once it is garbage
		time.Sleep(10 * time.Millisecond)
	}
	if n := destroyed(); n != len(vals) {
		t.Errorf("after Close, %d of %d pooled values are not destroyed", len(vals)-n, len(vals))
	}
}

// TestQuickRun: the warm-up tells a quick run from one worth wiring to the
// request's cancellation: the PdM model at batch 1024 is quick, at ten million
// rows it is not; a model costing milliseconds a row is never quick; without
// warm-up no run is.
func TestQuickRun(t *testing.T) {
	initORT(t)
	slow, err := pdm.SlowModel(pdm.V1(), 400)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	load := func(onnx []byte, runs int) *Model {
		m, err := LoadModel(ctx, onnx, ModelInfo{Org: "acme"}, LoadOptions{WarmupRuns: runs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	pdmV1 := loadPdM(t)
	slowM := load(slow, 0)
	cold := load(ortest.Model(t, "sklearn_randomforest.onnx"), -1)
	for _, tt := range []struct {
		name  string
		m     *Model
		elems int64
		want  bool
	}{
		{"pdm batch 1024", pdmV1, 1024 * pdm.NumFeatures, true},
		{"pdm 10M rows", pdmV1, 10_000_000 * pdm.NumFeatures, false},
		{"slow batch 64", slowM, 64 * pdm.NumFeatures, false},
		{"no warm-up", cold, 4, false},
	} {
		if got := tt.m.quickRun(tt.elems); got != tt.want {
			t.Errorf("%s: quickRun = %v, want %v (fixed %.0f ns, %.2f ns per element)", tt.name, got, tt.want, tt.m.runFixed, tt.m.runPerElem)
		}
	}
}
