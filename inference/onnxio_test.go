package inference

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference/internal/ortest"
)

// namedModel is a model for the onnxio tests and whether skeletonIO must answer
// for it (false: it must leave it to a session of the whole model).
type namedModel struct {
	name     string
	onnx     []byte
	skeleton bool
}

// repoModels returns every ONNX model the repository has or makes: the
// committed PdM models, those examples/pdm generates, and the onnxruntime_go
// test models (whose initializers are all small).
func repoModels(tb testing.TB) []namedModel {
	tb.Helper()
	must := func(b []byte, err error) []byte {
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	models := []namedModel{
		{"pdm v1", must(pdm.Model(pdm.V1())), false},
		{"pdm v2", must(pdm.Model(pdm.V2())), false},
		{"pdm poor", must(pdm.Model(pdm.Poor())), false},
		{"pdm wrong shape", must(pdm.WrongShapeModel()), false},
		{"pdm not onnx", pdm.NotONNX(), false},
		{"pdm padded 1 MiB", must(pdm.ModelWithPadding(pdm.V1(), 1<<20)), true},
		{"pdm slow", must(pdm.SlowModel(pdm.V1(), 2)), true},
		{"pdm resident 1 MiB", must(pdm.ResidentModel(pdm.V1(), 1<<20)), true},
	}
	committed, _ := filepath.Glob("../testdata/pdm/*.onnx")
	thirdParty, _ := filepath.Glob(ortest.Path(tb, "*.onnx"))
	if len(committed) < 4 || len(thirdParty) < 8 {
		tb.Fatalf("found %d committed and %d onnxruntime_go models, want at least 4 and 8", len(committed), len(thirdParty))
	}
	for _, path := range append(committed, thirdParty...) {
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		models = append(models, namedModel{filepath.Base(path), b, false})
	}
	return models
}

// bigN is the length of a float initializer large enough to be replaced in the
// skeleton (4 KiB of data).
const bigN = 1024

// handModels returns hand-built models for the cases the repository's models do
// not cover.
func handModels() []namedModel {
	w := floatInit("w", []int64{bigN})
	x := tensorInput("x", onnxFloat, "batch", bigN)
	y := tensorInput("y", onnxFloat, "batch", bigN)
	add := onnxNode("Add", "y", "x", "w")
	weighted := testGraph{nodes: [][]byte{add}, inits: [][]byte{w}, inputs: [][]byte{x}, outputs: [][]byte{y}}
	withInput := weighted
	withInput.inputs = [][]byte{tensorInput("w", onnxFloat, bigN), x}
	small := testGraph{nodes: [][]byte{add}, inits: [][]byte{floatInit("w", []int64{3})},
		inputs:  [][]byte{tensorInput("x", onnxFloat, "batch", 3), tensorInput("w", onnxFloat, 3)},
		outputs: [][]byte{tensorInput("y", onnxFloat, "batch", 3)}}
	overridable := withInput
	overridable.inputs = [][]byte{tensorInput("w", onnxFloat, "n"), tensorInput("x", onnxFloat, "batch", "m")}
	overridable.outputs = [][]byte{tensorInput("y", onnxFloat, "batch", nil)}
	ir3 := withInput
	ir3.ir = 3
	static := weighted
	static.inputs = [][]byte{tensorInput("x", onnxFloat, 2, bigN)}
	static.outputs = [][]byte{tensorInput("y", onnxFloat, "n", nil)}
	contradicted := weighted
	contradicted.outputs = [][]byte{tensorInput("y", onnxFloat, "batch", 7)}
	unshaped := weighted
	unshaped.inputs = [][]byte{unshapedInput("x", onnxFloat)}
	untyped := weighted
	untyped.inputs = [][]byte{onnxValueInfo("x", nil)}
	unused := weighted
	unused.inits = [][]byte{w, floatInit("padding", []int64{4 * bigN})}
	sequence := weighted
	sequence.nodes = [][]byte{add, onnxNode("SequenceConstruct", "s", "y")}
	sequence.outputs = [][]byte{y, sequenceInput("s")}
	weightOut := weighted
	weightOut.outputs = [][]byte{y, tensorInput("w", onnxFloat, bigN)}
	external := weighted
	external.inits = [][]byte{floatInit("w", []int64{bigN}, pbVarint(nil, tensorDataLocation, 1)...)}
	sparse := weighted
	sparse.extra = pbMessage(nil, graphSparseInitializer, sparseInit("v"))
	repeated := weighted
	repeated.inits = [][]byte{w, w}
	twoGraphs := weighted.model()
	twoGraphs = append(twoGraphs, pbMessage(nil, modelGraph, pbString(nil, 2, "again"))...)
	return []namedModel{
		{"weight not among inputs", weighted.model(), true},
		{"weight among inputs", withInput.model(), true},
		{"weight among inputs, declared [n]", overridable.model(), true},
		{"small initializer among inputs", small.model(), false},
		{"IR 3, weight among inputs", ir3.model(), false},
		{"output shape refined by inference", static.model(), true},
		{"output shape contradicted by inference", contradicted.model(), true},
		{"input without shape", unshaped.model(), true},
		{"input without type", untyped.model(), false},
		{"unused weight", unused.model(), true},
		{"sequence output", sequence.model(), true},
		{"weight is an output", weightOut.model(), false},
		{"external data", external.model(), false},
		{"sparse initializer", sparse.model(), false},
		{"repeated initializer", repeated.model(), false},
		{"two graphs", twoGraphs, false},
		{"truncated", weighted.model()[:3000], false},
	}
}

// TestModelIOMatchesORT: for every model, modelIO gives what a session of the
// whole model reports (or fails where it fails), and skeletonIO answers exactly
// for the models with initializers worth leaving out.
func TestModelIOMatchesORT(t *testing.T) {
	initORT(t)
	for _, m := range append(repoModels(t), handModels()...) {
		t.Run(m.name, func(t *testing.T) {
			wantIns, wantOuts, wantErr := ort.GetInputOutputInfoWithONNXData(m.onnx)
			ins, outs, err := modelIO(m.onnx)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("modelIO error %v, whole-model session error %v", err, wantErr)
			}
			if diff := cmp.Diff(wantIns, ins); diff != "" {
				t.Errorf("inputs (-whole model +modelIO):\n%s", diff)
			}
			if diff := cmp.Diff(wantOuts, outs); diff != "" {
				t.Errorf("outputs (-whole model +modelIO):\n%s", diff)
			}
			if _, _, ok := skeletonIO(m.onnx); ok != m.skeleton {
				t.Errorf("skeletonIO answered %v, want %v", ok, m.skeleton)
			}
		})
	}
}

// TestModelIONotFromDeclarations pins down why the outputs come from a session:
// ONNX Runtime reports an output's inferred shape, not the declared one, and
// leaves out an initializer listed among the graph inputs.
func TestModelIONotFromDeclarations(t *testing.T) {
	initORT(t)
	models := handModels()
	tensor := func(name string, dims ...int64) ort.InputOutputInfo {
		return ort.InputOutputInfo{Name: name, OrtValueType: ort.ONNXTypeTensor,
			Dimensions: ort.NewShape(dims...), DataType: ort.TensorElementDataTypeFloat}
	}
	for _, tc := range []struct {
		model     string
		ins, outs []ort.InputOutputInfo
	}{
		// declared y: [n, ?]
		{"output shape refined by inference", []ort.InputOutputInfo{tensor("x", 2, bigN)}, []ort.InputOutputInfo{tensor("y", 2, bigN)}},
		// declared y: [batch, 7]
		{"output shape contradicted by inference", []ort.InputOutputInfo{tensor("x", -1, bigN)}, []ort.InputOutputInfo{tensor("y", -1, -1)}},
		// declared inputs: w, x
		{"weight among inputs", []ort.InputOutputInfo{tensor("x", -1, bigN)}, []ort.InputOutputInfo{tensor("y", -1, bigN)}},
		// x has no shape: reported like a scalar
		{"input without shape", []ort.InputOutputInfo{{Name: "x", OrtValueType: ort.ONNXTypeTensor,
			Dimensions: ort.Shape{}, DataType: ort.TensorElementDataTypeFloat}}, []ort.InputOutputInfo{tensor("y", -1, bigN)}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			i := indexOfModel(t, models, tc.model)
			ins, outs, ok := skeletonIO(models[i].onnx)
			if !ok {
				t.Fatal("skeletonIO did not answer")
			}
			if diff := cmp.Diff(tc.ins, ins); diff != "" {
				t.Errorf("inputs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.outs, outs); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
		})
	}
}

func indexOfModel(tb testing.TB, models []namedModel, name string) int {
	for i, m := range models {
		if m.name == name {
			return i
		}
	}
	tb.Fatalf("no model %q", name)
	return -1
}

// TestSkeletonLeavesOutWeights: the skeleton of a padded model is small, and
// keeps the model's small initializers.
func TestSkeletonLeavesOutWeights(t *testing.T) {
	padded, err := pdm.ModelWithPadding(pdm.V1(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	sk, replaced := skeleton(padded)
	if len(sk) == 0 || len(sk) > 4<<10 {
		t.Fatalf("skeleton of a 1 MiB model is %d bytes, want 1 to 4096", len(sk))
	}
	if diff := cmp.Diff(map[string]bool{"padding": true}, replaced); diff != "" {
		t.Errorf("replaced initializers (-want +got):\n%s", diff)
	}
}
