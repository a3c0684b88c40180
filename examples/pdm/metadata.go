package pdm

import (
	"fmt"
	"math"
	"time"
)

// Metadata is the JSON document that travels beside a model (models/<org>/model_<v>.metadata.json
// and the artifact's metadata): what the model is, how it was evaluated, and its I/O schema.
type Metadata struct {
	Name      string             `json:"name"`
	Version   string             `json:"version"`
	Framework string             `json:"framework"`
	Accuracy  float64            `json:"accuracy"`
	TrainedAt time.Time          `json:"trainedAt"` // RFC 3339 in JSON
	Inputs    []TensorSpec       `json:"inputs"`
	Outputs   []TensorSpec       `json:"outputs"`
	Metrics   map[string]float64 `json:"metrics"`
}

// TensorSpec describes one model input or output in Open Inference Protocol v2 terms:
// Datatype is "FP32" and the like, and -1 in Shape is a dynamic dimension.
type TensorSpec struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelName is the Metadata name of every pdm model.
const ModelName = "pdm"

// TrainedAt is the fixed training time MetadataFor records, so generated files are
// byte-identical from run to run.
var TrainedAt = time.Date(2025, time.March, 3, 9, 0, 0, 0, time.UTC)

// MetadataFor describes model w under the given version label ("v1"), with its accuracy
// and other metrics measured by the Go reference Predict on data at Threshold, and
// TrainedAt as its training time.
func MetadataFor(version string, w Weights, data []Sample) Metadata {
	probs := make([]float32, len(data))
	for i, s := range data {
		probs[i] = Predict(w, s.X)
	}
	e, _ := Evaluate(probs, data) // lengths match by construction
	return Metadata{
		Name:      ModelName,
		Version:   version,
		Framework: "onnx",
		Accuracy:  e.Accuracy,
		TrainedAt: TrainedAt,
		Inputs:    []TensorSpec{{Name: InputName, Datatype: "FP32", Shape: []int64{-1, NumFeatures}}},
		Outputs:   []TensorSpec{{Name: OutputName, Datatype: "FP32", Shape: []int64{-1, 1}}},
		Metrics: map[string]float64{
			"precision":   e.Precision,
			"recall":      e.Recall,
			"f1":          e.F1,
			"logLoss":     e.LogLoss,
			"samples":     float64(len(data)),
			"threshold":   Threshold,
			"failureRate": e.FailureRate,
		},
	}
}

// Evaluation summarizes predicted failure probabilities against labels at Threshold.
// Ratios whose denominator is zero are 0. Figures are rounded to 6 decimals.
type Evaluation struct {
	Accuracy, Precision, Recall, F1, LogLoss, FailureRate float64
}

// Evaluate scores probs (one per sample, in order) against the samples' labels.
func Evaluate(probs []float32, data []Sample) (Evaluation, error) {
	if len(probs) != len(data) {
		return Evaluation{}, fmt.Errorf("evaluate: %d probabilities for %d samples", len(probs), len(data))
	}
	if len(data) == 0 {
		return Evaluation{}, fmt.Errorf("evaluate: no samples")
	}
	var tp, fp, tn, fn int
	var logLoss float64
	for i, s := range data {
		p := float64(probs[i])
		predicted := p >= Threshold
		switch {
		case predicted && s.Label == 1:
			tp++
		case predicted:
			fp++
		case s.Label == 1:
			fn++
		default:
			tn++
		}
		q := p
		if s.Label == 0 {
			q = 1 - p
		}
		logLoss -= math.Log(math.Max(q, 1e-7))
	}
	n := float64(len(data))
	e := Evaluation{
		Accuracy:    ratio(tp+tn, len(data)),
		Precision:   ratio(tp, tp+fp),
		Recall:      ratio(tp, tp+fn),
		LogLoss:     logLoss / n,
		FailureRate: ratio(tp+fn, len(data)),
	}
	if e.Precision+e.Recall > 0 {
		e.F1 = 2 * e.Precision * e.Recall / (e.Precision + e.Recall)
	}
	for _, f := range []*float64{&e.Accuracy, &e.Precision, &e.Recall, &e.F1, &e.LogLoss, &e.FailureRate} {
		*f = math.Round(*f*1e6) / 1e6
	}
	return e, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
