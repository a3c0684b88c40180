package inference

import (
	"context"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/eaglenotifier/talon/inference/internal/ortest"
)

// The benchmarks compare inference through the serving cache (validation,
// refcounting, output copy) with a bare onnxruntime_go dynamic session doing the
// same work (wrap input, run, read output, destroy) on sklearn_randomforest,
// whose batch dimension is dynamic. Both use one intra-op thread.

const benchModel = "sklearn_randomforest.onnx"

func BenchmarkCacheInferBatch1(b *testing.B)    { benchCache(b, 1, context.Background()) }
func BenchmarkCacheInferBatch1024(b *testing.B) { benchCache(b, 1024, context.Background()) }
func BenchmarkBareSessionBatch1(b *testing.B)   { benchBare(b, 1) }
func BenchmarkBareSessionBatch1024(b *testing.B) {
	benchBare(b, 1024)
}

// BenchmarkCacheInferBatch1CancelCtx measures the cost of a cancellable context
// (an HTTP request's): Infer then wires ONNX Runtime's terminate flag to it.
func BenchmarkCacheInferBatch1CancelCtx(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchCache(b, 1, ctx)
}

func benchCache(b *testing.B, rows int, ctx context.Context) {
	m := loadTestModel(b, benchModel, ModelInfo{Org: "acme", Version: "v1"})
	c := NewCache()
	defer c.Close()
	c.Swap("acme", m)
	in := []Tensor{{Name: "X", Datatype: FP32, Shape: []int64{int64(rows), 4}, Data: irisRows(rows)}}
	for b.Loop() {
		m, release, ok := c.Acquire("acme")
		if !ok {
			b.Fatal("acme not served")
		}
		out, err := m.Infer(ctx, in, nil)
		release()
		if err != nil || len(out[0].Data.([]int64)) != rows {
			b.Fatal(err)
		}
	}
	reportPerRow(b, rows)
}

func benchBare(b *testing.B, rows int) {
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
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(ortest.Model(b, benchModel), []string{"X"}, []string{"output_label"}, so)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Destroy()
	data := irisRows(rows)
	shape := ort.NewShape(int64(rows), 4)
	for b.Loop() {
		x, err := ort.NewTensor(shape, data)
		if err != nil {
			b.Fatal(err)
		}
		outs := []ort.Value{nil}
		if err := sess.Run([]ort.Value{x}, outs); err != nil {
			b.Fatal(err)
		}
		if len(outs[0].(*ort.Tensor[int64]).GetData()) != rows {
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
