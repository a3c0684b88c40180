package inference

import (
	"context"
	"os"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/eaglenotifier/talon/inference/lowprio"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference/internal/ortest"
)

// The benchmarks compare inference through the serving cache (validation,
// refcounting, output copy) with a bare onnxruntime_go dynamic session doing the
// same work (wrap input, run, read output, destroy), on Talon's PdM model
// (testdata/pdm/pdm-v1.onnx) and on the third-party sklearn_randomforest. Both
// have a dynamic batch dimension; both sides use one intra-op thread.

// benchModel is one model the benchmarks run: its bytes, input and output, and rows.
type benchModel struct {
	load         func(testing.TB) []byte
	input, outpt string
	cols         int
	rows         func(n int) []float32
}

var (
	pdmBench = benchModel{
		load: func(tb testing.TB) []byte {
			b, err := os.ReadFile("../testdata/pdm/pdm-v1.onnx")
			if err != nil {
				tb.Fatal(err)
			}
			return b
		},
		input: "sensors", outpt: "failure_probability", cols: 6, rows: pdmRows,
	}
	forestBench = benchModel{
		load:  func(tb testing.TB) []byte { return ortest.Model(tb, "sklearn_randomforest.onnx") },
		input: "X", outpt: "output_label", cols: 4, rows: irisRows,
	}
)

func BenchmarkCacheInferBatch1(b *testing.B)     { benchCache(b, pdmBench, 1, context.Background()) }
func BenchmarkCacheInferBatch1024(b *testing.B)  { benchCache(b, pdmBench, 1024, context.Background()) }
func BenchmarkBareSessionBatch1(b *testing.B)    { benchBare(b, pdmBench, 1) }
func BenchmarkBareSessionBatch1024(b *testing.B) { benchBare(b, pdmBench, 1024) }
func BenchmarkForestCacheInferBatch1(b *testing.B) {
	benchCache(b, forestBench, 1, context.Background())
}
func BenchmarkForestCacheInferBatch1024(b *testing.B) {
	benchCache(b, forestBench, 1024, context.Background())
}
func BenchmarkForestBareSessionBatch1(b *testing.B)    { benchBare(b, forestBench, 1) }
func BenchmarkForestBareSessionBatch1024(b *testing.B) { benchBare(b, forestBench, 1024) }

// BenchmarkCacheInferBatch1CancelCtx measures the cost of a cancellable context
// (an HTTP request's): Infer then wires ONNX Runtime's terminate flag to it.
func BenchmarkCacheInferBatch1CancelCtx(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchCache(b, pdmBench, 1, ctx)
}

// pdmRows returns n rows of plausible PdM sensor readings.
func pdmRows(n int) []float32 {
	base := [6]float32{86, 5.5, 5.8, 33, 2100, 13000}
	out := make([]float32, 0, 6*n)
	for i := range n {
		for j, v := range base {
			out = append(out, v*(1+float32((i+j)%7-3)/50))
		}
	}
	return out
}

func outputRows(v any) int {
	switch d := v.(type) {
	case []float32:
		return len(d)
	case []int64:
		return len(d)
	}
	return -1
}

func benchCache(b *testing.B, bm benchModel, rows int, ctx context.Context) {
	initORT(b)
	m, err := LoadModel(context.Background(), bm.load(b), ModelInfo{Org: "acme", Version: "v1"}, LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	c := NewCache()
	defer c.Close()
	c.Swap("acme", m)
	in := []Tensor{{Name: bm.input, Datatype: FP32, Shape: []int64{int64(rows), int64(bm.cols)}, Data: bm.rows(rows)}}
	outs := []string{bm.outpt}
	for b.Loop() {
		m, release, ok := c.Acquire("acme")
		if !ok {
			b.Fatal("acme not served")
		}
		out, err := m.Infer(ctx, in, outs)
		release()
		if err != nil || outputRows(out[0].Data) != rows {
			b.Fatal(err)
		}
	}
	reportPerRow(b, rows)
}

func benchBare(b *testing.B, bm benchModel, rows int) {
	initORT(b)
	so, err := ort.NewSessionOptions()
	if err != nil {
		b.Fatal(err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(1); err != nil {
		b.Fatal(err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		b.Fatal(err)
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(bm.load(b), []string{bm.input}, []string{bm.outpt}, so)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Destroy()
	data := bm.rows(rows)
	shape := ort.NewShape(int64(rows), int64(bm.cols))
	for b.Loop() {
		x, err := ort.NewTensor(shape, data)
		if err != nil {
			b.Fatal(err)
		}
		outs := []ort.Value{nil}
		if err := sess.Run([]ort.Value{x}, outs); err != nil {
			b.Fatal(err)
		}
		var n int
		switch o := outs[0].(type) {
		case *ort.Tensor[float32]:
			n = len(o.GetData())
		case *ort.Tensor[int64]:
			n = len(o.GetData())
		}
		if n != rows {
			b.Fatal("wrong output length")
		}
		outs[0].Destroy()
		x.Destroy()
	}
	reportPerRow(b, rows)
}

func reportPerRow(b *testing.B, rows int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
}

// BenchmarkLoadModel64MiB loads 64 MiB models the old way (inputs and outputs
// read from a throwaway session of the whole model) and the new way (from a
// session of the model's skeleton, see modelIO), alternating, and reports the
// milliseconds of each and new/old. "padded" is pdm.ModelWithPadding (an
// initializer no node reads, which ONNX Runtime drops), "resident" is
// pdm.ResidentModel (a table ONNX Runtime keeps). ns/op counts both loads.
func BenchmarkLoadModel64MiB(b *testing.B) {
	initORT(b)
	for _, tc := range []struct {
		name string
		make func(pdm.Weights, int) ([]byte, error)
	}{{"padded", pdm.ModelWithPadding}, {"resident", pdm.ResidentModel}} {
		onnx, err := tc.make(pdm.V1(), 64<<20)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			var old, cur time.Duration
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					old += timeLoad(b, onnx, ort.GetInputOutputInfoWithONNXData)
					cur += timeLoad(b, onnx, modelIO)
				} else {
					cur += timeLoad(b, onnx, modelIO)
					old += timeLoad(b, onnx, ort.GetInputOutputInfoWithONNXData)
				}
			}
			b.ReportMetric(old.Seconds()*1e3/float64(b.N), "old-ms")
			b.ReportMetric(cur.Seconds()*1e3/float64(b.N), "new-ms")
			b.ReportMetric(float64(cur)/float64(old), "new/old")
		})
	}
}

// timeLoad returns how long LoadModel takes on onnx when it reads the inputs and
// outputs with readIO.
func timeLoad(b *testing.B, onnx []byte, readIO ioReader) time.Duration {
	var m *Model
	var err error
	start := time.Now()
	lowprio.Run(func() { m, err = loadModel(context.Background(), onnx, ModelInfo{}, LoadOptions{}, readIO) })
	d := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	m.Close()
	return d
}
