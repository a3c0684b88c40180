package validate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/validate"
)

func initORT(tb testing.TB) {
	tb.Helper()
	path, err := inference.FindORTLibrary("")
	if err != nil {
		tb.Fatal(err)
	}
	if err := inference.InitRuntime(path); err != nil {
		tb.Fatal(err)
	}
}

func readPdM(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "pdm", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// pdmSchema is the schema an org running the PdM model declares.
var pdmSchema = inference.Signature{
	Inputs:  []inference.TensorSpec{{Name: pdm.InputName, Datatype: inference.FP32, Shape: []int64{-1, pdm.NumFeatures}}},
	Outputs: []inference.TensorSpec{{Name: pdm.OutputName, Datatype: inference.FP32, Shape: []int64{-1, 1}}},
}

// reference scores model on the validation set the way examples/pdm does: one
// batch through ONNX Runtime, then pdm.Evaluate.
func reference(t *testing.T, model []byte, csv []byte) (pdm.Evaluation, []float64, []bool) {
	t.Helper()
	samples, err := pdm.ReadCSV(bytes.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	m, err := inference.LoadModel(context.Background(), model, inference.ModelInfo{Org: "ref"}, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := make([]float32, 0, len(samples)*pdm.NumFeatures)
	labels := make([]bool, len(samples))
	for i, s := range samples {
		x = append(x, s.X[:]...)
		labels[i] = s.Label == 1
	}
	out, err := m.Infer(context.Background(), []inference.Tensor{{Name: pdm.InputName, Datatype: inference.FP32,
		Shape: []int64{int64(len(samples)), pdm.NumFeatures}, Data: x}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	probs32 := out[0].Data.([]float32)
	e, err := pdm.Evaluate(probs32, samples)
	if err != nil {
		t.Fatal(err)
	}
	probs := make([]float64, len(probs32))
	for i, p := range probs32 {
		probs[i] = float64(p)
	}
	return e, probs, labels
}

// pairwiseAUC is the definition of ROC AUC: the share of (positive, negative)
// pairs the positive scores higher, ties counting one half.
func pairwiseAUC(probs []float64, labels []bool) float64 {
	var wins float64
	var pairs int
	for i := range probs {
		for j := range probs {
			if !labels[i] || labels[j] {
				continue
			}
			pairs++
			switch {
			case probs[i] > probs[j]:
				wins++
			case probs[i] == probs[j]:
				wins += 0.5
			}
		}
	}
	return wins / float64(pairs)
}

// TestRunPdMModels runs the gate on the PdM models: the good ones score what
// examples/pdm's evaluation says, the poor one much worse, and every figure is
// recomputed here from the model's outputs.
func TestRunPdMModels(t *testing.T) {
	initORT(t)
	csv := readPdM(t, "validation.csv")
	slow, err := pdm.SlowModel(pdm.V1(), 300)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		model []byte
	}{
		{"v1", readPdM(t, "pdm-v1.onnx")},
		{"v2", readPdM(t, "pdm-v2.onnx")},
		{"poor", readPdM(t, "pdm-poor.onnx")},
		{"slow", slow},
	}
	reports := map[string]*validate.Report{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := inference.ModelInfo{Org: "acme", Version: tt.name, Digest: "sha256:0123"}
			rep, err := validate.Run(context.Background(), tt.model, info, bytes.NewReader(csv), validate.Options{Schema: &pdmSchema})
			if err != nil {
				t.Fatalf("Run: %v (report %+v)", err, rep)
			}
			reports[tt.name] = rep
			ref, probs, labels := reference(t, tt.model, csv)
			got := pdm.Evaluation{Accuracy: rep.Accuracy, Precision: rep.Precision, Recall: rep.Recall, F1: rep.F1,
				LogLoss: ref.LogLoss, FailureRate: float64(rep.Positives) / float64(rep.Rows)}
			if diff := cmp.Diff(ref, got, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-6 })); diff != "" {
				t.Errorf("scores differ from pdm.Evaluate (-pdm +validate):\n%s", diff)
			}
			if want := pairwiseAUC(probs, labels); math.Abs(rep.AUC-want) > 1e-12 {
				t.Errorf("AUC = %v, pairwise definition gives %v", rep.AUC, want)
			}
			wantHead := validate.Report{Org: "acme", Version: tt.name, Digest: "sha256:0123", SizeBytes: int64(len(tt.model)),
				Input: pdm.InputName, Output: pdm.OutputName, Columns: pdm.Features, ByName: false, BatchSize: 1, Requests: pdm.ValidationRows}
			gotHead := validate.Report{Org: rep.Org, Version: rep.Version, Digest: rep.Digest, SizeBytes: rep.SizeBytes,
				Input: rep.Input, Output: rep.Output, Columns: rep.Columns, ByName: rep.ByName, BatchSize: rep.BatchSize, Requests: rep.Requests}
			if diff := cmp.Diff(wantHead, gotHead); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if rep.Rows != pdm.ValidationRows || rep.Threshold != 0.5 || rep.SchemaErrors != nil || rep.Error != "" {
				t.Errorf("rows %d threshold %v schema %v error %q", rep.Rows, rep.Threshold, rep.SchemaErrors, rep.Error)
			}
			if !(0 < rep.P50 && rep.P50 <= rep.P99 && rep.P99 <= rep.Max && rep.Load > 0) {
				t.Errorf("latencies p50 %v p99 %v max %v load %v", rep.P50, rep.P99, rep.Max, rep.Load)
			}
		})
	}
	v1, poor, slowRep := reports["v1"], reports["poor"], reports["slow"]
	if v1 == nil || poor == nil || slowRep == nil {
		t.Fatal("missing reports")
	}
	if v1.Accuracy < 0.9 || poor.Accuracy > 0.6 || poor.AUC >= v1.AUC {
		t.Errorf("v1 accuracy %.3f AUC %.3f, poor accuracy %.3f AUC %.3f: want v1 ≥ 0.9 > 0.6 ≥ poor, poor's AUC lower",
			v1.Accuracy, v1.AUC, poor.Accuracy, poor.AUC)
	}
	if slowRep.Accuracy != v1.Accuracy || slowRep.AUC != v1.AUC {
		t.Errorf("slow model scores %v/%v, v1 %v/%v: the slow model computes v1's outputs", slowRep.Accuracy, slowRep.AUC, v1.Accuracy, v1.AUC)
	}
	// A latency budget an org could set: ten times v1's median request. The
	// slow model does about twenty million multiply-adds per row, v1 six.
	if budget := 10 * v1.P50; slowRep.P99 <= budget {
		t.Errorf("slow model p99 %v is within a budget of 10 × v1's p50 (%v)", slowRep.P99, budget)
	}
	t.Logf("v1 p50 %v p99 %v; slow p50 %v p99 %v; poor accuracy %.3f", v1.P50, v1.P99, slowRep.P50, slowRep.P99, poor.Accuracy)
}

// TestRunRefuses: models the gate cannot evaluate come back with an error of the
// right kind and a report that says why.
func TestRunRefuses(t *testing.T) {
	initORT(t)
	csv := readPdM(t, "validation.csv")
	tests := []struct {
		name         string
		model        []byte
		schema       *inference.Signature
		want         error
		schemaErrors []string
	}{
		{"not ONNX", readPdM(t, "not-onnx.onnx"), &pdmSchema, validate.ErrLoad, nil},
		{"wrong shape vs declared schema", readPdM(t, "pdm-wrong-shape.onnx"), &pdmSchema, validate.ErrSchema,
			[]string{`input "sensors": shape [-1 5], declared [-1 6]`}},
		{"wrong shape, no declared schema", readPdM(t, "pdm-wrong-shape.onnx"), nil, validate.ErrDataset, nil},
		{"declared output missing", readPdM(t, "pdm-v1.onnx"), &inference.Signature{
			Inputs:  pdmSchema.Inputs,
			Outputs: []inference.TensorSpec{{Name: "probability", Datatype: inference.FP32, Shape: []int64{-1, 1}}},
		}, validate.ErrSchema, []string{
			`output "probability": declared FP32 [-1 1], the model has no such output`,
			`output "failure_probability": the model has FP32 [-1 1], the schema does not declare it`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := validate.Run(context.Background(), tt.model, inference.ModelInfo{Org: "acme", Version: "v9"},
				bytes.NewReader(csv), validate.Options{Schema: tt.schema})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if rep == nil || rep.Error != err.Error() || rep.SizeBytes != int64(len(tt.model)) || rep.Rows != 0 {
				t.Fatalf("report %+v: want the error, the model size and no scores", rep)
			}
			if diff := cmp.Diff(tt.schemaErrors, rep.SchemaErrors); diff != "" {
				t.Errorf("schema errors (-want +got):\n%s", diff)
			}
			if _, err := json.Marshal(rep); err != nil {
				t.Errorf("report does not encode: %v", err)
			}
		})
	}
}

// TestRunCancelled: a cancelled context is not a verdict on the model.
func TestRunCancelled(t *testing.T) {
	initORT(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := validate.Run(ctx, readPdM(t, "pdm-v1.onnx"), inference.ModelInfo{Org: "acme"},
		bytes.NewReader(readPdM(t, "validation.csv")), validate.Options{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, validate.ErrLoad) {
		t.Fatalf("err = %v, want context.Canceled and not ErrLoad", err)
	}
}

// TestEvaluateLoadedModel: Evaluate works on a loaded model, leaves it open, and
// larger batches give the same scores with fewer, larger requests; a threshold of
// 0.9 trades recall for precision.
func TestEvaluateLoadedModel(t *testing.T) {
	initORT(t)
	m, err := inference.LoadModel(context.Background(), readPdM(t, "pdm-v1.onnx"), inference.ModelInfo{Org: "acme", Version: "v1"}, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	csv := readPdM(t, "validation.csv")
	one, err := validate.Evaluate(context.Background(), m, bytes.NewReader(csv), validate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	big, err := validate.Evaluate(context.Background(), m, bytes.NewReader(csv), validate.Options{BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(one.Scores, big.Scores); diff != "" {
		t.Errorf("batch 64 scores differ from batch 1 (-1 +64):\n%s", diff)
	}
	if one.Requests != 500 || big.Requests != 8 || big.BatchSize != 64 || one.SizeBytes != 0 || one.Version != "v1" {
		t.Errorf("requests %d and %d (batch %d), size %d, version %q", one.Requests, big.Requests, big.BatchSize, one.SizeBytes, one.Version)
	}
	strict, err := validate.Evaluate(context.Background(), m, bytes.NewReader(csv), validate.Options{Threshold: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	if strict.Threshold != 0.9 || strict.Precision < one.Precision || strict.Recall >= one.Recall || strict.AUC != one.AUC {
		t.Errorf("threshold 0.9: precision %v recall %v AUC %v; at 0.5: %v %v %v", strict.Precision, strict.Recall, strict.AUC,
			one.Precision, one.Recall, one.AUC)
	}
	if _, err := m.Infer(context.Background(), []inference.Tensor{{Name: pdm.InputName, Datatype: inference.FP32,
		Shape: []int64{1, pdm.NumFeatures}, Data: make([]float32, pdm.NumFeatures)}}, nil); err != nil {
		t.Errorf("model unusable after Evaluate: %v", err)
	}
}
