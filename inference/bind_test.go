package inference

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference/internal/ortest"
)

// TestPlannedEqualsAllocated: with preallocated outputs (pooled sets for small
// batches, fresh buffers for large ones) Infer returns exactly what it returns
// when ONNX Runtime allocates the outputs, for models with a dynamic batch and
// with fixed shapes; models whose output shapes do not follow from the batch get
// no plan.
func TestPlannedEqualsAllocated(t *testing.T) {
	initORT(t)
	pdmV1, err := os.ReadFile("../testdata/pdm/pdm-v1.onnx")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		onnx    []byte
		planned bool
		inputs  func(batch int64) []Tensor
		batches []int64
	}{
		{"pdm", pdmV1, true, func(b int64) []Tensor {
			return []Tensor{{Name: "sensors", Datatype: FP32, Shape: []int64{b, 6}, Data: pdmRows(int(b))}}
		}, []int64{1, 2, 3, 8, 9, 700, 1024}},
		{"sklearn forest", ortest.Model(t, "sklearn_randomforest.onnx"), true, func(b int64) []Tensor {
			return []Tensor{{Name: "X", Datatype: FP32, Shape: []int64{b, 4}, Data: irisRows(int(b))}}
		}, []int64{1, 5, 100}},
		{"multitype, fixed shapes", ortest.Model(t, "example_multitype.onnx"), true, func(int64) []Tensor {
			return []Tensor{
				{Name: "InputA", Datatype: UINT8, Shape: []int64{1, 1, 1}, Data: []uint8{200}},
				{Name: "InputB", Datatype: FP64, Shape: []int64{1, 2, 2}, Data: []float64{1, -2, 3.5, 4}},
			}
		}, []int64{1}},
		{"0-dim output", ortest.Model(t, "example_0_dim_output.onnx"), false, func(int64) []Tensor {
			return []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{2, 8}, Data: make([]float32, 16)}}
		}, []int64{1}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := LoadModel(ctx, tt.onnx, ModelInfo{Org: "acme"}, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if (m.plan != nil) != tt.planned {
				t.Fatalf("plan = %v, want planned %v", m.plan != nil, tt.planned)
			}
			for _, b := range tt.batches {
				in := tt.inputs(b)
				got, err := m.Infer(ctx, in, nil)
				if err != nil {
					t.Fatal(err)
				}
				want, err := m.inferAllocated(ctx, in, identity(len(in)), identity(len(m.sig.Outputs)))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("batch %d: planned outputs differ from allocated (-want +got):\n%s", b, diff)
				}
			}
			if m.plan != nil && m.plan.off.Load() {
				t.Error("the plan was turned off by runs it predicted")
			}
		})
	}
}

func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestPlanFallsBack: a model that declares its output [batch, 6] but returns at
// most two rows passes the load-time check (batches 1 and 2); at batch 3 ONNX
// Runtime rejects the preallocated output, Infer answers correctly through the
// general path and turns the plan off.
func TestPlanFallsBack(t *testing.T) {
	initORT(t)
	ctx := context.Background()
	m, err := LoadModel(ctx, firstRowsModel(2), ModelInfo{Org: "acme"}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.plan == nil {
		t.Fatal("no plan: the load-time check should pass at batches 1 and 2")
	}
	rows := pdmRows(3)
	for _, b := range []int64{3, 1, 3} {
		out, err := m.Infer(ctx, []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{b, 6}, Data: rows[:6*b]}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := min(b, 2)
		want := []Tensor{{Name: "y", Datatype: FP32, Shape: []int64{n, 6}, Data: rows[:6*n]}}
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("batch %d (-want +got):\n%s", b, diff)
		}
		if !m.plan.off.Load() {
			t.Errorf("after batch %d the plan is still on", b)
		}
	}
}

// firstRowsModel encodes an ONNX model y = x[:rows] (Slice on axis 0) whose
// input x and output y both declare the shape [batch, 6].
func firstRowsModel(rows int64) []byte {
	str := func(b []byte, n protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(b, n, protowire.BytesType), s)
	}
	msg := func(b []byte, n protowire.Number, m []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, n, protowire.BytesType), m)
	}
	varint := func(b []byte, n protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, n, protowire.VarintType), v)
	}
	int64Init := func(name string, v int64) []byte {
		t := msg(nil, 1, protowire.AppendVarint(nil, 1))                   // dims [1]
		t = varint(t, 2, 7)                                                // INT64
		t = str(t, 8, name)                                                // name
		return msg(t, 9, binary.LittleEndian.AppendUint64(nil, uint64(v))) // raw_data
	}
	valueInfo := func(name string) []byte {
		shape := msg(nil, 1, str(nil, 2, "batch"))
		shape = msg(shape, 1, varint(nil, 1, 6))
		tensor := msg(varint(nil, 1, 1), 2, shape) // FLOAT, shape
		return msg(str(nil, 1, name), 2, msg(nil, 1, tensor))
	}
	node := str(nil, 1, "x")
	for _, in := range []string{"starts", "ends", "axes"} {
		node = str(node, 1, in)
	}
	node = str(str(node, 2, "y"), 4, "Slice")
	g := msg(nil, 1, node)
	g = str(g, 2, "first_rows")
	for _, init := range [][]byte{int64Init("starts", 0), int64Init("ends", rows), int64Init("axes", 0)} {
		g = msg(g, 5, init)
	}
	g = msg(msg(g, 11, valueInfo("x")), 12, valueInfo("y"))
	model := varint(nil, 1, 8) // IR version
	model = msg(model, 7, g)
	return msg(model, 8, varint(nil, 2, 13)) // opset 13
}

// TestPooledConcurrent: goroutines sharing pooled sets of several batch sizes
// (sets that copy the request in, sets that wrap it, and sizes too large for a
// set) each get exactly the answer a lone call gets, from Infer and InferFunc.
func TestPooledConcurrent(t *testing.T) {
	m := loadPdM(t)
	ctx := context.Background()
	const huge = maxPooledOutElems + 1 // one call of each goroutine
	batches := []int64{1, 2, 8, 9, copyInElems / 6, copyInElems/6 + 1, 1024}
	want := map[int64][]Tensor{}
	input := func(b int64) []Tensor {
		return []Tensor{{Name: "sensors", Datatype: FP32, Shape: []int64{b, 6}, Data: pdmRows(int(b))}}
	}
	for _, b := range append(batches, huge) {
		out, err := m.inferAllocated(ctx, input(b), []int{0}, []int{0})
		if err != nil {
			t.Fatal(err)
		}
		want[b] = out
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				b := batches[(g+i)%len(batches)]
				if i == 0 {
					b = huge
				}
				var out []Tensor
				var err error
				if i%2 == 0 {
					out, err = m.Infer(ctx, input(b), nil)
				} else {
					err = m.InferFunc(ctx, input(b), nil, func(lent []Tensor) error {
						out = ownedCopy(lent)
						return nil
					})
				}
				if err == nil && !cmp.Equal(want[b], out) {
					err = fmt.Errorf("batch %d: %s", b, cmp.Diff(want[b], out))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRunOptionsNotReusedAfterTerminate: a run that a cancelled context
// terminated leaves no terminated options in the pool for later runs.
func TestRunOptionsNotReusedAfterTerminate(t *testing.T) {
	initORT(t)
	slow, err := pdm.SlowModel(pdm.V1(), 400)
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(context.Background(), slow, ModelInfo{Org: "acme"}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in := []Tensor{{Name: "sensors", Datatype: FP32, Shape: []int64{64, 6}, Data: pdmRows(64)}}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Millisecond, cancel)
	if _, err := m.Infer(ctx, in, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: err = %v, want context.Canceled", err)
	}
	one := []Tensor{{Name: "sensors", Datatype: FP32, Shape: []int64{1, 6}, Data: pdmRows(1)}}
	for range 4 {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := m.Infer(ctx, one, nil)
		cancel()
		if err != nil {
			t.Fatalf("run after a terminated one: %v", err)
		}
	}
}

func loadPdM(tb testing.TB) *Model {
	tb.Helper()
	initORT(tb)
	b, err := os.ReadFile("../testdata/pdm/pdm-v1.onnx")
	if err != nil {
		tb.Fatal(err)
	}
	m, err := LoadModel(context.Background(), b, ModelInfo{Org: "acme", Version: "v1"}, LoadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}
