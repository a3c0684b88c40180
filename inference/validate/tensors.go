package validate

import (
	"fmt"
	"math"

	"github.com/eaglenotifier/talon/inference"
)

// feedable picks the input the dataset feeds and the output read as
// P(label = 1), and checks the runner can use them: one FP32 input of shape
// [batch, n] with a dynamic batch, and an FP32 or FP64 output of shape [batch],
// [batch, 1] or [batch, 2].
func feedable(sig inference.Signature, output string) (in, out inference.TensorSpec, err error) {
	if len(sig.Inputs) != 1 {
		return in, out, fmt.Errorf("the model has %d inputs %v, the runner feeds exactly one", len(sig.Inputs), sig.Inputs)
	}
	in = sig.Inputs[0]
	if in.Datatype != inference.FP32 || len(in.Shape) != 2 || in.Shape[0] >= 0 {
		return in, out, fmt.Errorf("input %s: the runner feeds an FP32 table of shape [-1 n] (dynamic batch)", in)
	}
	found := false
	for _, o := range sig.Outputs {
		switch {
		case output != "":
			found = o.Name == output
		case len(sig.Outputs) == 1:
			found = true
		default:
			found = o.Datatype == inference.FP32 || o.Datatype == inference.FP64
		}
		if found {
			out = o
			break
		}
	}
	if !found {
		if output != "" {
			return in, out, fmt.Errorf("the model has no output %q (outputs: %v)", output, sig.Outputs)
		}
		return in, out, fmt.Errorf("no FP32 or FP64 output among %v to read as a probability", sig.Outputs)
	}
	if out.Datatype != inference.FP32 && out.Datatype != inference.FP64 {
		return in, out, fmt.Errorf("output %s: want FP32 or FP64 probabilities", out)
	}
	switch {
	case len(out.Shape) == 1:
	case len(out.Shape) == 2 && (out.Shape[1] < 0 || out.Shape[1] == 1 || out.Shape[1] == 2):
	default:
		return in, out, fmt.Errorf("output %s: want shape [batch], [batch 1] or [batch 2]", out)
	}
	return in, out, nil
}

// appendProbs appends the positive-class probability of each of rows rows of t
// to probs: the only column, or column 1 of two.
func appendProbs(probs []float64, t inference.Tensor, rows int) ([]float64, error) {
	var vals []float64
	switch d := t.Data.(type) {
	case []float32:
		vals = make([]float64, len(d))
		for i, v := range d {
			vals[i] = float64(v)
		}
	case []float64:
		vals = d
	default:
		return probs, fmt.Errorf("data is %T, want float32 or float64", t.Data)
	}
	if rows == 0 || len(vals)%rows != 0 || (len(vals)/rows != 1 && len(vals)/rows != 2) {
		return probs, fmt.Errorf("%d values (shape %v) for %d rows, want 1 or 2 per row", len(vals), t.Shape, rows)
	}
	k := len(vals) / rows
	for r := range rows {
		p := vals[r*k+k-1]
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return probs, fmt.Errorf("row %d: probability %v is not finite", r+1, p)
		}
		probs = append(probs, p)
	}
	return probs, nil
}
