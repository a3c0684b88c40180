// Package pdm is Talon's predictive-maintenance example: a six-sensor logistic model
// that estimates the probability that a machine fails within the maintenance horizon,
// encoded as ONNX from Go, plus a deterministic labeled dataset for validating it.
//
// The model computes sigmoid(((x - Mean) / Scale) · W + B) with the ONNX operators
// Sub, Div, MatMul, Add and Sigmoid. Its input, InputName, is a float32 tensor of
// shape [batch, 6] (the batch dimension is dynamic, dim_param "batch") holding the
// Features in raw physical units; its output, OutputName, is float32 [batch, 1].
package pdm

import "math"

// Features names the model's input columns, in order. All are float32 in raw physical
// units: temperature in °C (55–115, mostly 65–95), vibration as RMS velocity in mm/s
// (0–15), pressure in bar (3–9), motor current in A (10–55), rpm (1000–3000) and run
// hours since the last overhaul (0–20000). Dataset keeps to these ranges.
var Features = []string{"temperature", "vibration", "pressure", "motor_current", "rpm", "run_hours"}

// NumFeatures is len(Features), the size of the input's second dimension.
const NumFeatures = 6

// InputName and OutputName are the model's graph input and output names.
const (
	InputName  = "sensors"
	OutputName = "failure_probability"
)

// Threshold is the probability at or above which a prediction counts as "failure".
const Threshold = 0.5

// ProducerName is written to every model's ModelProto.producer_name.
const ProducerName = "talon-pdm"

// Weights are the parameters of one model version. Version is written to the model's
// ModelProto.model_version; the rest define sigmoid(((x - Mean) / Scale) · W + B).
type Weights struct {
	Version int64
	Mean    [NumFeatures]float32
	Scale   [NumFeatures]float32
	W       [NumFeatures]float32
	B       float32
}

// population are the sensor means and standard deviations of the fleet Dataset draws
// from; V1 standardizes with exactly these.
var (
	populationMean  = [NumFeatures]float32{80, 4, 6, 30, 2000, 10000}
	populationScale = [NumFeatures]float32{8, 2.5, 0.9, 6, 400, 5774}
)

// V1 returns the first good model version (Version 1): trained on the whole fleet, it
// scores about 0.9 accuracy on Dataset.
func V1() Weights {
	return Weights{
		Version: 1,
		Mean:    populationMean,
		Scale:   populationScale,
		W:       [NumFeatures]float32{1.9, 2.7, -0.45, 1.35, 0.05, 2.0},
		B:       -3.1,
	}
}

// V2 returns the second good model version (Version 2): retrained on a later window
// with different standardization and sharper weights. It is about as accurate as V1,
// but its probabilities differ clearly from V1's for the same input, so a caller can
// tell which version answered.
func V2() Weights {
	return Weights{
		Version: 2,
		Mean:    [NumFeatures]float32{82, 4.5, 6.1, 31, 2050, 9000},
		Scale:   [NumFeatures]float32{9, 2.8, 1, 6.5, 420, 6000},
		W:       [NumFeatures]float32{1.3, 1.7, -0.35, 0.8, 0.05, 1.25},
		B:       -1.3,
	}
}

// Poor returns a model that loads and has the right schema but is clearly worse than
// V1 and V2: it learned from the wrong sensors, and its accuracy on Dataset (about
// 0.55) is below that of always answering "no failure". Its Version is 3, a retrain
// that a validation gate should reject.
func Poor() Weights {
	return Weights{
		Version: 3,
		Mean:    populationMean,
		Scale:   populationScale,
		W:       [NumFeatures]float32{0.4, 0.5, 1.5, 0, 1.6, 0},
		B:       -0.6,
	}
}

// Predict is the Go reference implementation of the model w for one input row x; it
// matches ONNX Runtime's output to within float32 rounding.
func Predict(w Weights, x [NumFeatures]float32) float32 {
	var logit float32
	for i := range x {
		z := (x[i] - w.Mean[i]) / w.Scale[i]
		logit += float32(z * w.W[i]) // the conversion forbids fused multiply-add
	}
	logit += w.B
	return float32(1 / (1 + math.Exp(-float64(logit))))
}
