package inference

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/eaglenotifier/talon/inference/internal/ortest"
)

// bareRun runs a plain onnxruntime_go dynamic session built from the model file,
// the baseline Talon's results must equal.
func bareRun(t *testing.T, file string, in []Tensor, outNames []string) []Tensor {
	t.Helper()
	inNames := make([]string, len(in))
	vals := make([]ort.Value, len(in))
	for i, x := range in {
		inNames[i] = x.Name
		v, err := newValue(x.Shape, x.Data)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Destroy()
		vals[i] = v
	}
	sess, err := ort.NewDynamicAdvancedSession(ortest.Path(t, file), inNames, outNames, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Destroy()
	outs := make([]ort.Value, len(outNames))
	if err := sess.Run(vals, outs); err != nil {
		t.Fatal(err)
	}
	res := make([]Tensor, len(outs))
	for i, o := range outs {
		dt, shape, data, err := valueData(o)
		if err != nil {
			t.Fatal(err)
		}
		o.Destroy()
		res[i] = Tensor{Name: outNames[i], Datatype: dt, Shape: shape, Data: data}
	}
	return res
}

func TestInferEqualsBareSession(t *testing.T) {
	initORT(t)
	tests := []struct {
		file string
		in   []Tensor
		outs []string
	}{
		{"sklearn_randomforest.onnx", []Tensor{{Name: "X", Datatype: FP32, Shape: []int64{6, 4}, Data: irisRows(6)}},
			[]string{"output_label"}},
		{"example_dynamic_axes.onnx", []Tensor{{Name: "input_vectors", Datatype: FP32, Shape: []int64{3, 10},
			Data: func() []float32 {
				d := make([]float32, 30)
				for i := range d {
					d[i] = float32(i) / 7
				}
				return d
			}()}}, []string{"output_scalars"}},
		{"example_multitype.onnx", []Tensor{
			{Name: "InputB", Datatype: FP64, Shape: []int64{1, 2, 2}, Data: []float64{0.5, -1.25, 3, 100}},
			{Name: "InputA", Datatype: UINT8, Shape: []int64{1, 1, 1}, Data: []uint8{7}},
		}, []string{"OutputB", "OutputA"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := loadTestModel(t, tt.file, ModelInfo{Org: "acme", Version: "v1"})
			defer m.Close()
			got, err := m.Infer(context.Background(), tt.in, tt.outs)
			if err != nil {
				t.Fatal(err)
			}
			want := bareRun(t, tt.file, tt.in, tt.outs)
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("Infer differs from a bare session (-bare +talon):\n%s", d)
			}
		})
	}
}

func TestInferSklearnLabelsDiffer(t *testing.T) {
	// The three iris species in irisRows must not all get one label, or the
	// comparison with the bare session would prove little.
	m := loadTestModel(t, "sklearn_randomforest.onnx", ModelInfo{})
	defer m.Close()
	out, err := m.Infer(context.Background(), []Tensor{{Name: "X", Datatype: FP32, Shape: []int64{3, 4}, Data: irisRows(3)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int64{0, 1, 2}, out[0].Data); d != "" {
		t.Fatalf("labels of setosa, versicolor, virginica (-want +got):\n%s", d)
	}
}

func TestLoadModelSignature(t *testing.T) {
	tests := []struct {
		file    string
		want    Signature
		skipped []string
	}{
		{"sklearn_randomforest.onnx", Signature{
			Inputs:  []TensorSpec{{Name: "X", Datatype: FP32, Shape: []int64{-1, 4}}},
			Outputs: []TensorSpec{{Name: "output_label", Datatype: INT64, Shape: []int64{-1}}},
		}, []string{"output_probability"}},
		{"example_multitype.onnx", Signature{
			Inputs: []TensorSpec{{Name: "InputA", Datatype: UINT8, Shape: []int64{1, 1, 1}},
				{Name: "InputB", Datatype: FP64, Shape: []int64{1, 2, 2}}},
			Outputs: []TensorSpec{{Name: "OutputA", Datatype: INT16, Shape: []int64{1, 2, 2}},
				{Name: "OutputB", Datatype: INT64, Shape: []int64{1, 1, 1}}},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			info := ModelInfo{Org: "acme", Version: "v7", Digest: "sha256:abc", ConfigCommit: "0123abc"}
			m := loadTestModel(t, tt.file, info)
			defer m.Close()
			if d := cmp.Diff(tt.want, m.Signature()); d != "" {
				t.Errorf("signature (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.skipped, m.SkippedOutputs()); d != "" {
				t.Errorf("skipped outputs (-want +got):\n%s", d)
			}
			if m.Info() != info {
				t.Errorf("Info() = %+v, want %+v", m.Info(), info)
			}
		})
	}
}

func TestLoadModelRejects(t *testing.T) {
	initORT(t)
	tests := []struct {
		name, want string
		onnx       []byte
	}{
		{"not ONNX", "not a loadable ONNX model", []byte("this is a text file, not a model\n")},
		{"empty", "empty model", nil},
		{"truncated", "not a loadable ONNX model", ortest.Model(t, "sklearn_randomforest.onnx")[:200]},
		{"FP16 input", `input "InputA": datatype FP16 is not served`, ortest.Model(t, "example_float16.onnx")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := LoadModel(context.Background(), tt.onnx, ModelInfo{Org: "acme", Version: "v9"}, LoadOptions{})
			if err == nil {
				m.Close()
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "acme v9") {
				t.Fatalf("error %q does not name the model and %q", err, tt.want)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := LoadModel(ctx, ortest.Model(t, "sklearn_randomforest.onnx"), ModelInfo{}, LoadOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestInferBadInput(t *testing.T) {
	m := loadTestModel(t, "sklearn_randomforest.onnx", ModelInfo{})
	defer m.Close()
	x := func(shape []int64, data any) Tensor {
		return Tensor{Name: "X", Datatype: FP32, Shape: shape, Data: data}
	}
	tests := []struct {
		name    string
		in      []Tensor
		outs    []string
		kind    string
		tensor  string
		contain string
	}{
		{"unknown name", []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{1, 4}, Data: irisRows(1)}}, nil, "input", "x", "no such input"},
		{"missing", nil, nil, "input", "X", "missing"},
		{"twice", []Tensor{x([]int64{1, 4}, irisRows(1)), x([]int64{1, 4}, irisRows(1))}, nil, "input", "X", "more than once"},
		{"datatype", []Tensor{{Name: "X", Datatype: FP64, Shape: []int64{1, 4}, Data: make([]float64, 4)}}, nil, "input", "X", "datatype FP64, the model expects FP32"},
		{"Go type", []Tensor{x([]int64{1, 4}, make([]float64, 4))}, nil, "input", "X", "[]float64"},
		{"nil data", []Tensor{x([]int64{1, 4}, nil)}, nil, "input", "X", "data is <nil>"},
		{"rank", []Tensor{x([]int64{4}, irisRows(1))}, nil, "input", "X", "has 1 dimensions, the model expects 2"},
		{"fixed dim", []Tensor{x([]int64{1, 5}, make([]float32, 5))}, nil, "input", "X", "dimension 1"},
		{"zero batch", []Tensor{x([]int64{0, 4}, []float32{})}, nil, "input", "X", "dimension 0"},
		{"negative batch", []Tensor{x([]int64{-2, 4}, irisRows(1))}, nil, "input", "X", "dimension 0"},
		{"short data", []Tensor{x([]int64{2, 4}, irisRows(1))}, nil, "input", "X", "has 4 elements, shape [2 4] needs 8"},
		{"long data", []Tensor{x([]int64{1, 4}, irisRows(2))}, nil, "input", "X", "has 8 elements"},
		{"overflow", []Tensor{x([]int64{1 << 62, 4}, irisRows(1))}, nil, "input", "X", "too large"},
		{"unknown output", []Tensor{x([]int64{1, 4}, irisRows(1))}, []string{"output_probability"}, "output", "output_probability", "serves no such output"},
		{"output twice", []Tensor{x([]int64{1, 4}, irisRows(1))}, []string{"output_label", "output_label"}, "output", "output_label", "more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Infer(context.Background(), tt.in, tt.outs)
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("err = %v, want ErrBadInput", err)
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.Kind != tt.kind || ie.Name != tt.tensor || !strings.Contains(ie.Reason, tt.contain) {
				t.Fatalf("err = %#v, want %s %q saying %q", err, tt.kind, tt.tensor, tt.contain)
			}
		})
	}
}

func TestModelCloseWaitsForInflight(t *testing.T) {
	m := loadTestModel(t, "sklearn_randomforest.onnx", ModelInfo{})
	in := []Tensor{{Name: "X", Datatype: FP32, Shape: []int64{1, 4}, Data: irisRows(1)}}
	if !m.acquire() { // a request in flight
		t.Fatal("acquire on an open model failed")
	}
	m.Close()
	m.Close()
	if n := m.destroyed.Load(); n != 0 {
		t.Fatalf("session destroyed %d times while a request was in flight", n)
	}
	if _, err := m.Infer(context.Background(), in, nil); err != nil {
		t.Fatalf("Infer after Close while the session is held: %v", err)
	}
	if m.acquire() {
		t.Fatal("acquire succeeded after Close")
	}
	m.release()
	if n := m.destroyed.Load(); n != 1 {
		t.Fatalf("session destroyed %d times after the last release, want 1", n)
	}
	if _, err := m.Infer(context.Background(), in, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Infer after the session was released: err = %v, want ErrClosed", err)
	}
	m.Close()
	if n := m.destroyed.Load(); n != 1 {
		t.Fatalf("session destroyed %d times after a third Close, want 1", n)
	}
}

func TestInferCancelledContext(t *testing.T) {
	m := loadTestModel(t, "sklearn_randomforest.onnx", ModelInfo{})
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := []Tensor{{Name: "X", Datatype: FP32, Shape: []int64{1, 4}, Data: irisRows(1)}}
	if _, err := m.Infer(ctx, in, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
