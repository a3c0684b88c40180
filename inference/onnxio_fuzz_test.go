package inference

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/eaglenotifier/talon/examples/pdm"
)

// FuzzONNXIO: skeletonIO never panics, and when it answers for a model a session
// of the whole model accepts, it agrees with that session.
func FuzzONNXIO(f *testing.F) {
	initORT(f)
	for _, w := range []func() ([]byte, error){
		func() ([]byte, error) { return pdm.Model(pdm.V1()) },
		func() ([]byte, error) { return pdm.ModelWithPadding(pdm.V1(), 8<<10) },
		func() ([]byte, error) { return pdm.ResidentModel(pdm.V1(), 4<<10) },
	} {
		b, err := w()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, m := range handModels() {
		f.Add(m.onnx)
	}
	f.Fuzz(func(t *testing.T, onnx []byte) {
		ins, outs, ok := skeletonIO(onnx)
		if !ok {
			return
		}
		wantIns, wantOuts, err := ort.GetInputOutputInfoWithONNXData(onnx)
		if err != nil {
			return
		}
		if diff := cmp.Diff(wantIns, ins); diff != "" {
			t.Errorf("inputs (-whole model +skeleton):\n%s", diff)
		}
		if diff := cmp.Diff(wantOuts, outs); diff != "" {
			t.Errorf("outputs (-whole model +skeleton):\n%s", diff)
		}
	})
}

// FuzzONNXIOGraphs builds small graphs around a 4 KiB weight from the fuzzed
// spec (see fuzzGraph), so that nearly every input is a model ONNX Runtime
// loads, and checks that skeletonIO answers for each one and agrees with a
// session of the whole model: the declared shapes vary where ONNX Runtime's
// shape inference refines, loosens or drops them.
func FuzzONNXIOGraphs(f *testing.F) {
	initORT(f)
	for _, spec := range []string{"", "\x00\x00\x02\x01\x05\x02\x01\x07", "\x02\x05\x02\x02\x04\x04\x02\x03\x01",
		"\x01\x03\x01\x02\x01\x07\x04", "\x00\x04\x00\x02\x06\x07\x02\x00\x00"} {
		f.Add([]byte(spec))
	}
	f.Fuzz(func(t *testing.T, spec []byte) {
		onnx := fuzzGraph(spec)
		wantIns, wantOuts, err := ort.GetInputOutputInfoWithONNXData(onnx)
		if err != nil {
			return
		}
		ins, outs, ok := skeletonIO(onnx)
		if !ok {
			t.Fatal("skeletonIO did not answer for a model ONNX Runtime loads")
		}
		if diff := cmp.Diff(wantIns, ins); diff != "" {
			t.Errorf("inputs (-whole model +skeleton):\n%s", diff)
		}
		if diff := cmp.Diff(wantOuts, outs); diff != "" {
			t.Errorf("outputs (-whole model +skeleton):\n%s", diff)
		}
	})
}

// fuzzGraph builds y = op(x, w) from spec, op being Add, Mul or MatMul and w a
// float weight of 1024 values in one of a few shapes, then y reshaped to
// [2, -1] by a small constant if the spec asks. Spec bytes, each taken modulo
// the choices (missing bytes are 0): op, weight shape, flags (1: w is among the
// graph inputs, 2: declared [n] there, 4: reshape), then the declared shapes of
// x and y, each a rank (0 to 3, or 4 for no shape) followed by its dimensions
// (an empty dimension, "batch", "m", 1, 2, 32, 256 or 1024).
func fuzzGraph(spec []byte) []byte {
	next := func() int {
		if len(spec) == 0 {
			return 0
		}
		b := spec[0]
		spec = spec[1:]
		return int(b)
	}
	op := []string{"Add", "Mul", "MatMul"}[next()%3]
	wShape := [][]int64{{1024}, {1, 1024}, {32, 32}, {1024, 1}, {4, 256}, {256, 4}}[next()%6]
	flags := next()
	declared := func(name string) []byte {
		rank := next() % 5
		if rank == 4 {
			return unshapedInput(name, onnxFloat)
		}
		dims := make([]any, rank)
		for i := range dims {
			dims[i] = []any{nil, "batch", "m", 1, 2, 32, 256, 1024}[next()%8]
		}
		return tensorInput(name, onnxFloat, dims...)
	}
	g := testGraph{inits: [][]byte{floatInit("w", wShape)}, inputs: [][]byte{declared("x")}, outputs: [][]byte{declared("y")}}
	if flags&1 != 0 {
		w := tensorInput("w", onnxFloat, "n")
		if flags&2 == 0 {
			w = tensorInput("w", onnxFloat, int(wShape[0]))
			if len(wShape) == 2 {
				w = tensorInput("w", onnxFloat, int(wShape[0]), int(wShape[1]))
			}
		}
		g.inputs = append(g.inputs, w)
	}
	if flags&4 == 0 {
		g.nodes = [][]byte{onnxNode(op, "y", "x", "w")}
		return g.model()
	}
	g.nodes = [][]byte{onnxNode(op, "h", "x", "w"), onnxNode("Reshape", "y", "h", "shape")}
	g.inits = append(g.inits, int64Init("shape", 2, -1))
	return g.model()
}

// int64Init encodes a one-dimensional int64 TensorProto of values.
func int64Init(name string, values ...int64) []byte {
	raw := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	b := pbMessage(nil, tensorDims, []byte{byte(len(values))})
	b = pbVarint(b, tensorDataType, 7) // INT64
	b = pbString(b, tensorName, name)
	return pbMessage(b, 9, raw) // raw_data
}
