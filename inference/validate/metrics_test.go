package validate_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/inference/validate"
)

// TestAUCMatchesPairwise compares the rank-based AUC with the pairwise
// definition on random scores with many ties.
func TestAUCMatchesPairwise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 3, 10, 257, 1000} {
		probs := make([]float64, n)
		labels := make([]bool, n)
		for i := range probs {
			probs[i] = math.Round(r.Float64()*20) / 20 // 21 distinct values: ties
			labels[i] = r.Float64() < probs[i]
		}
		labels[0], labels[1] = true, false // both classes
		if got, want := validate.AUC(probs, labels), pairwiseAUC(probs, labels); math.Abs(got-want) > 1e-12 {
			t.Errorf("n=%d: AUC %v, pairwise %v", n, got, want)
		}
	}
	if got := validate.AUC([]float64{0.2, 0.9}, []bool{true, true}); got != 0 {
		t.Errorf("one class: AUC %v, want 0", got)
	}
}

func TestScore(t *testing.T) {
	probs := []float64{0.9, 0.6, 0.5, 0.4, 0.1, 0.7}
	labels := []bool{true, false, true, true, false, true}
	s := validate.Score(probs, labels, 0.5)
	// At 0.5: predicted positive 0.9 (T), 0.6 (F), 0.5 (T), 0.7 (T); negative 0.4 (T→FN), 0.1 (F→TN).
	if s.TruePositives != 3 || s.FalsePositives != 1 || s.FalseNegatives != 1 || s.TrueNegatives != 1 || s.Positives != 4 {
		t.Fatalf("confusion %+v", s)
	}
	want := map[string][2]float64{
		"accuracy": {s.Accuracy, 4.0 / 6}, "precision": {s.Precision, 3.0 / 4}, "recall": {s.Recall, 3.0 / 4},
		"f1": {s.F1, 3.0 / 4}, "auc": {s.AUC, pairwiseAUC(probs, labels)},
	}
	for name, v := range want {
		if math.Abs(v[0]-v[1]) > 1e-12 {
			t.Errorf("%s = %v, want %v", name, v[0], v[1])
		}
	}
	if z := validate.Score([]float64{0.1}, []bool{false}, 0.5); z.Precision != 0 || z.Recall != 0 || z.F1 != 0 || z.Accuracy != 1 {
		t.Errorf("no positives: %+v", z)
	}
}

func TestPercentile(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(100-i) * time.Millisecond // reversed: Percentile sorts
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0.001, time.Millisecond}} {
		if got := validate.Percentile(d, tt.q); got != tt.want {
			t.Errorf("Percentile(1..100ms, %v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := validate.Percentile([]time.Duration{3, 1}, 0.99); got != 3 {
		t.Errorf("p99 of two = %v, want the maximum", got)
	}
	if got := validate.Percentile(nil, 0.5); got != 0 {
		t.Errorf("empty: %v", got)
	}
}
