package pdm

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ort "github.com/yalue/onnxruntime_go"
)

func TestModelsLoadWithSchema(t *testing.T) {
	initORT(t)
	wrong, err := WrongShapeModel()
	if err != nil {
		t.Fatal(err)
	}
	tensor := func(name string, dims ...int64) ort.InputOutputInfo {
		return ort.InputOutputInfo{Name: name, OrtValueType: ort.ONNXTypeTensor,
			Dimensions: ort.NewShape(dims...), DataType: ort.TensorElementDataTypeFloat}
	}
	for _, tc := range []struct {
		name        string
		model       []byte
		version     int64
		cols        int64
		features    string
		description string
	}{
		{"v1", mustModel(t, V1()), 1, 6, strings.Join(Features, ","), "model v1"},
		{"v2", mustModel(t, V2()), 2, 6, strings.Join(Features, ","), "model v2"},
		{"poor", mustModel(t, Poor()), 3, 6, strings.Join(Features, ","), "model v3"},
		{"wrong-shape", wrong, 1, 5, "temperature,vibration,pressure,motor_current,rpm", "wrong input shape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, outs, err := ort.GetInputOutputInfoWithONNXData(tc.model)
			if err != nil {
				t.Fatalf("ONNX Runtime cannot read the model: %v", err)
			}
			if diff := cmp.Diff([]ort.InputOutputInfo{tensor(InputName, -1, tc.cols)}, ins); diff != "" {
				t.Errorf("inputs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]ort.InputOutputInfo{tensor(OutputName, -1, 1)}, outs); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
			md, err := session(t, tc.model).GetModelMetadata()
			if err != nil {
				t.Fatal(err)
			}
			defer md.Destroy()
			producer, _ := md.GetProducerName()
			version, _ := md.GetVersion()
			description, _ := md.GetDescription()
			features, _, _ := md.LookupCustomMetadataMap("features")
			if producer != ProducerName || version != tc.version || features != tc.features ||
				!strings.Contains(description, tc.description) {
				t.Errorf("metadata: producer %q version %d features %q description %q; want %q, %d, %q, containing %q",
					producer, version, features, description, ProducerName, tc.version, tc.features, tc.description)
			}
		})
	}
}

func TestNotONNXFailsToLoad(t *testing.T) {
	initORT(t)
	if _, _, err := ort.GetInputOutputInfoWithONNXData(NotONNX()); err == nil {
		t.Error("GetInputOutputInfoWithONNXData(NotONNX()) succeeded")
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(NotONNX(), []string{InputName}, []string{OutputName}, nil)
	if err == nil {
		s.Destroy()
		t.Fatal("NewDynamicAdvancedSessionWithONNXData(NotONNX()) succeeded")
	}
}

func TestORTMatchesPredict(t *testing.T) {
	for _, w := range []Weights{V1(), V2(), Poor()} {
		model := mustModel(t, w)
		for _, batch := range []int{1, 1024} {
			t.Run(fmt.Sprintf("v%d/batch%d", w.Version, batch), func(t *testing.T) {
				samples := Dataset(int64(batch), batch)
				got := predictORT(t, model, samples)
				for i, s := range samples {
					if want := Predict(w, s.X); math.Abs(float64(got[i]-want)) > 1e-5 {
						t.Fatalf("v%d batch %d row %d %v: ONNX Runtime %v, Predict %v", w.Version, batch, i, s.X, got[i], want)
					}
				}
			})
		}
	}
}

func TestV1AndV2Differ(t *testing.T) {
	typical := Sample{X: [NumFeatures]float32{80, 4, 6, 30, 2000, 10000}} // the fleet's mean machine
	samples := append([]Sample{typical}, Dataset(ValidationSeed, ValidationRows)...)
	v1 := predictORT(t, mustModel(t, V1()), samples)
	v2 := predictORT(t, mustModel(t, V2()), samples)
	if d := math.Abs(float64(v1[0] - v2[0])); d < 0.05 {
		t.Errorf("typical row: v1 %v, v2 %v: differ by %v, want at least 0.05", v1[0], v2[0], d)
	}
	var sum float64
	for i := range v1 {
		sum += math.Abs(float64(v1[i] - v2[i]))
	}
	if mean := sum / float64(len(v1)); mean < 0.03 {
		t.Errorf("mean |v1 - v2| over %d rows = %v, want at least 0.03", len(v1), mean)
	}
}

func TestAccuracyWithORT(t *testing.T) {
	data := Dataset(ValidationSeed, ValidationRows)
	for _, tc := range []struct {
		name     string
		w        Weights
		min, max float64
	}{
		{"v1", V1(), 0.85, 1},
		{"v2", V2(), 0.85, 1},
		{"poor", Poor(), 0, 0.7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Evaluate(predictORT(t, mustModel(t, tc.w), data), data)
			if err != nil {
				t.Fatal(err)
			}
			if e.Accuracy < tc.min || e.Accuracy > tc.max {
				t.Errorf("accuracy with ONNX Runtime = %v, want in [%v, %v]", e.Accuracy, tc.min, tc.max)
			}
			if md := MetadataFor(tc.name, tc.w, data); md.Accuracy != e.Accuracy {
				t.Errorf("MetadataFor accuracy (Go Predict) = %v, ONNX Runtime gives %v", md.Accuracy, e.Accuracy)
			}
		})
	}
}

func TestModelWithPadding(t *testing.T) {
	w := V2()
	data := Dataset(5, 1024)
	want := predictORT(t, mustModel(t, w), data)
	for _, size := range []int{64 << 10, 3 << 20} {
		padded, err := ModelWithPadding(w, size)
		if err != nil {
			t.Fatal(err)
		}
		if len(padded) > size || float64(len(padded)) < 0.95*float64(size) {
			t.Errorf("size %d: got %d bytes, want within 5%% below", size, len(padded))
		}
		if diff := cmp.Diff(want, predictORT(t, padded, data)); diff != "" {
			t.Errorf("size %d: outputs differ from Model's (-want +got):\n%s", size, diff)
		}
	}
	if _, err := ModelWithPadding(w, 100); err == nil {
		t.Error("ModelWithPadding(w, 100) succeeded; that is smaller than the model")
	}
}

func TestModelRejectsInvalidWeights(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Weights)
		want   string
	}{
		{"zero scale", func(w *Weights) { w.Scale[4] = 0 }, "Scale[rpm]=0"},
		{"NaN weight", func(w *Weights) { w.W[1] = float32(math.NaN()) }, "W[vibration]=NaN"},
		{"infinite bias", func(w *Weights) { w.B = float32(math.Inf(1)) }, "B=+Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := V1()
			tc.mutate(&w)
			if _, err := Model(w); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Model error = %v, want one naming %s", err, tc.want)
			}
		})
	}
}
