package validate

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Scores are binary-classification figures for predicted probabilities against
// 0/1 labels. Ratios whose denominator is zero are 0.
type Scores struct {
	// Rows is the number of scored rows; Positives of them have label 1.
	Rows      int `json:"rows"`
	Positives int `json:"positives"`
	// Threshold is the probability at or above which a prediction is positive.
	Threshold float64 `json:"threshold"`
	// TruePositives … FalseNegatives are the confusion matrix at Threshold.
	TruePositives  int `json:"truePositives"`
	FalsePositives int `json:"falsePositives"`
	TrueNegatives  int `json:"trueNegatives"`
	FalseNegatives int `json:"falseNegatives"`
	// Accuracy is (TP+TN)/Rows, Precision TP/(TP+FP), Recall TP/(TP+FN), F1 the
	// harmonic mean of precision and recall.
	Accuracy  float64 `json:"accuracy"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// AUC is the area under the ROC curve, computed exactly from ranks (the
	// Mann–Whitney U statistic, ties counted one half). It is 0 when the labels
	// hold only one class.
	AUC float64 `json:"auc"`
}

// Score computes Scores for probs against labels (true = 1) at threshold.
// probs and labels must have the same length.
func Score(probs []float64, labels []bool, threshold float64) Scores {
	s := Scores{Rows: len(probs), Threshold: threshold}
	for i, p := range probs {
		predicted := p >= threshold
		switch {
		case predicted && labels[i]:
			s.TruePositives++
		case predicted:
			s.FalsePositives++
		case labels[i]:
			s.FalseNegatives++
		default:
			s.TrueNegatives++
		}
	}
	s.Positives = s.TruePositives + s.FalseNegatives
	s.Accuracy = ratio(s.TruePositives+s.TrueNegatives, s.Rows)
	s.Precision = ratio(s.TruePositives, s.TruePositives+s.FalsePositives)
	s.Recall = ratio(s.TruePositives, s.Positives)
	if s.Precision+s.Recall > 0 {
		s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
	}
	s.AUC = AUC(probs, labels)
	return s
}

// AUC returns the area under the ROC curve of probs against labels: the
// probability that a random positive scores above a random negative, ties
// counting one half. It sorts once (O(n log n)) and gives tied scores their
// average rank. It returns 0 when either class is absent.
func AUC(probs []float64, labels []bool) float64 {
	n := len(probs)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return probs[idx[a]] < probs[idx[b]] })
	var pos int
	var rankSum float64 // sum of the 1-based ranks of the positives
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && probs[idx[hi]] == probs[idx[lo]] {
			hi++
		}
		avg := float64(lo+1+hi) / 2 // mean of ranks lo+1 … hi
		for _, k := range idx[lo:hi] {
			if labels[k] {
				pos++
				rankSum += avg
			}
		}
		lo = hi
	}
	neg := n - pos
	if pos == 0 || neg == 0 {
		return 0
	}
	u := rankSum - float64(pos)*float64(pos+1)/2
	return u / (float64(pos) * float64(neg))
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Percentile returns the q-quantile (0 < q ≤ 1) of durations by the
// nearest-rank method: the smallest value that at least q of them do not exceed.
// It sorts d in place and returns 0 for an empty slice.
func Percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	k := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(k, 0), len(d)-1)]
}
