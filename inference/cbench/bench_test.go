package cbench_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/cbench"
)

// BenchmarkOverheadVsC compares Talon's in-process inference (Cache.Acquire,
// Model.Infer, release: input validation, tensor wrapping, run, output copy)
// with bench.c calling the same libonnxruntime.so through the C API, on
// testdata/pdm/pdm-v1.onnx with one intra-op thread on both sides. The two
// alternate in rounds of about roundTime each, so both see the same machine
// load; "ratio" is the median over rounds of Talon's ns/row ÷ C's (goals: batch
// 1 ≤ 1.15, batch 1024 ≤ 1.05). The cancel-ctx variants pass a cancellable
// context, as the OIP server does with a request's context: Infer then wires
// ONNX Runtime's terminate flag to it. The lent variants call Model.InferFunc,
// as the OIP server does: the outputs are lent to a callback (which reads
// them) instead of copied out for the caller, as bench.c reads ONNX Runtime's
// output in place.
func BenchmarkOverheadVsC(b *testing.B) {
	env := setup(b)
	for _, bc := range []struct {
		batch        int
		cancel, lent bool
	}{{1, false, false}, {1024, false, false}, {1, true, false}, {1024, true, false}, {1, false, true}, {1024, false, true}} {
		name := fmt.Sprintf("batch=%d", bc.batch)
		if bc.cancel {
			name += "/cancel-ctx"
		}
		if bc.lent {
			name += "/lent"
		}
		b.Run(name, func(b *testing.B) { env.compare(b, bc.batch, bc.cancel, bc.lent) })
	}
}

// roundTime is the length of one Go round and one C round.
const roundTime = 200 * time.Millisecond

type benchEnv struct {
	c     *cbench.Process
	cache *inference.Cache
}

func pdmPath(tb testing.TB, file string) string {
	tb.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testdata", "pdm", file))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// start builds the C program and starts it on model.
func start(tb testing.TB, model string) *cbench.Process {
	tb.Helper()
	lib, err := inference.FindORTLibrary("")
	if err != nil {
		tb.Fatal(err)
	}
	if err := inference.InitRuntime(lib); err != nil {
		tb.Fatal(err)
	}
	bin, err := cbench.Build(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	p, err := cbench.Start(context.Background(), bin, cbench.Config{
		Lib: lib, Model: model, Input: pdm.InputName, Output: pdm.OutputName, Cols: pdm.NumFeatures,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

// loadPdM loads testdata/pdm/pdm-v1.onnx as Talon does.
func loadPdM(tb testing.TB) *inference.Model {
	tb.Helper()
	onnx, err := os.ReadFile(pdmPath(tb, "pdm-v1.onnx"))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := inference.LoadModel(context.Background(), onnx, inference.ModelInfo{Org: "acme", Version: "v1"}, inference.LoadOptions{IntraOpThreads: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func setup(b *testing.B) *benchEnv {
	b.Helper()
	p := start(b, pdmPath(b, "pdm-v1.onnx"))
	c := inference.NewCache()
	b.Cleanup(c.Close)
	c.Swap("acme", loadPdM(b))
	return &benchEnv{c: p, cache: c}
}

func (e *benchEnv) compare(b *testing.B, batch int, cancel, lent bool) {
	ctx := context.Background()
	if cancel {
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer stop()
	}
	in := []inference.Tensor{{Name: pdm.InputName, Datatype: inference.FP32,
		Shape: []int64{int64(batch), pdm.NumFeatures}, Data: Rows(batch, pdm.NumFeatures)}}
	out := []string{pdm.OutputName}
	var goRows, cRows, ratios []float64
	n, roundStart := 0, time.Now()
	for b.Loop() {
		m, release, ok := e.cache.Acquire("acme")
		if !ok {
			b.Fatal("acme is not served")
		}
		var rows int
		var err error
		if lent {
			err = m.InferFunc(ctx, in, out, func(res []inference.Tensor) error {
				rows = len(res[0].Data.([]float32))
				return nil
			})
		} else {
			var res []inference.Tensor
			if res, err = m.Infer(ctx, in, out); err == nil {
				rows = len(res[0].Data.([]float32))
			}
		}
		release()
		if err != nil {
			b.Fatal(err)
		}
		if rows != batch {
			b.Fatalf("%d outputs for batch %d", rows, batch)
		}
		if n++; n%16 == 0 && time.Since(roundStart) >= roundTime {
			b.StopTimer()
			goRow := float64(time.Since(roundStart).Nanoseconds()) / float64(n*batch)
			c, err := e.c.Measure(batch, roundTime)
			if err != nil {
				b.Fatal(err)
			}
			goRows, cRows, ratios = append(goRows, goRow), append(cRows, c.PerRow), append(ratios, goRow/c.PerRow)
			b.StartTimer()
			n, roundStart = 0, time.Now()
		}
	}
	if len(ratios) == 0 {
		b.Logf("no full round in %d iterations; run with -benchtime of a second or more", b.N)
		return
	}
	b.ReportMetric(median(goRows), "ns/row")
	b.ReportMetric(median(cRows), "c-ns/row")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(float64(len(ratios)), "rounds")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// Rows returns n rows of cols features, exactly as bench.c's rows() makes them.
func Rows(n, cols int) []float32 {
	base := [6]float32{86, 5.5, 5.8, 33, 2100, 13000}
	out := make([]float32, 0, n*cols)
	for i := range n {
		for j := range cols {
			v := float32(1)
			if j < len(base) {
				v = base[j]
			}
			out = append(out, v*(1+float32((i+j)%7-3)/50))
		}
	}
	return out
}

// TestCProgram checks that the C program builds, runs each batch size at least
// 100 times, computes the same outputs as Talon on the same rows (so the
// benchmark compares like with like), and fails on a model it cannot load.
func TestCProgram(t *testing.T) {
	p := start(t, pdmPath(t, "pdm-v1.onnx"))
	m := loadPdM(t)
	defer m.Close()
	for _, batch := range []int{1, 7, 1024} {
		r, err := p.Measure(batch, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if r.Batch != batch || r.Iterations < 100 || r.PerInference <= 0 || r.PerRow <= 0 {
			t.Errorf("result = %+v, want batch %d, ≥ 100 iterations, positive times", r, batch)
		}
		out, err := m.Infer(context.Background(), []inference.Tensor{{Name: pdm.InputName, Datatype: inference.FP32,
			Shape: []int64{int64(batch), pdm.NumFeatures}, Data: Rows(batch, pdm.NumFeatures)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var want float64
		for _, p := range out[0].Data.([]float32) {
			want += float64(p)
		}
		if math.Abs(r.Sum-want) > 1e-6*max(1, want) {
			t.Errorf("batch %d: C output sum %v, Talon's %v", batch, r.Sum, want)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	bad := start(t, pdmPath(t, "not-onnx.onnx"))
	_, err := bad.Measure(1, time.Millisecond)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("measuring not-onnx.onnx: err = %v, want exit status 1", err)
	}
}
