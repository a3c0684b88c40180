package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestQualityGate(t *testing.T) {
	ms := time.Millisecond
	schema := IOSchema{
		Inputs:  []TensorSpec{{"sensors", "FP32", []int64{-1, 6}}},
		Outputs: []TensorSpec{{"p", "FP32", []int64{-1, 1}}},
	}
	gate := Validation{MinAccuracy: 0.9, MaxP50Latency: 5 * ms, MaxP99Latency: 20 * ms, MaxModelSize: 1 << 20, Schema: schema}
	good := ValidationReport{Samples: 500, Accuracy: 0.95, P50Latency: 2 * ms, P99Latency: 10 * ms, ModelSize: 300,
		Inputs:  []TensorSpec{{"sensors", "FP32", []int64{-1, 6}}},
		Outputs: []TensorSpec{{"p", "FP32", []int64{-1, 1}}}}
	with := func(f func(*ValidationReport)) ValidationReport {
		r := good
		r.Inputs = append([]TensorSpec(nil), good.Inputs...)
		r.Outputs = append([]TensorSpec(nil), good.Outputs...)
		f(&r)
		return r
	}
	tests := []struct {
		name   string
		v      Validation
		r      ValidationReport
		failed []string // "name: observed | limit"
	}{
		{"all pass", gate, good, nil},
		{"exactly at every threshold passes", gate, with(func(r *ValidationReport) {
			r.Accuracy, r.P50Latency, r.P99Latency, r.ModelSize = 0.9, 5*ms, 20*ms, 1<<20
		}), nil},
		{"no thresholds: nothing checked", Validation{}, ValidationReport{}, nil},
		{"each number over its limit", gate, with(func(r *ValidationReport) {
			r.Accuracy, r.P50Latency, r.P99Latency, r.ModelSize = 0.8999, 6*ms, 21*ms, 1<<20+1
		}), []string{"accuracy: 0.8999 on 500 rows | >= 0.9", "p50Latency: 6ms | <= 5ms", "p99Latency: 21ms | <= 20ms", "modelSize: 1048577 bytes | <= 1048576 bytes (1MiB)"}},
		{"unmeasured accuracy and latency fail", gate, with(func(r *ValidationReport) { r.Samples, r.P99Latency = 0, 0 }),
			[]string{"accuracy: not measured | >= 0.9", "p99Latency: not measured | <= 20ms"}},
		{"model with a fixed batch refuses clients' dynamic batch", gate, with(func(r *ValidationReport) { r.Inputs[0].Shape = []int64{1, 6} }),
			[]string{"input sensors: FP32 [1, 6] | FP32 [-1, 6]"}},
		{"model dynamic where clients send fixed: fine", Validation{Schema: IOSchema{Inputs: []TensorSpec{{"sensors", "FP32", []int64{1, 6}}}}}, good, nil},
		{"wrong datatype, rank and missing output", gate, with(func(r *ValidationReport) {
			r.Inputs[0].Datatype = "FP64"
			r.Outputs = []TensorSpec{{"q", "FP32", []int64{-1}}}
		}), []string{"input sensors: FP64 [-1, 6] | FP32 [-1, 6]", "output p: missing | FP32 [-1, 1]"}},
		{"output dims: -1 on either side matches", Validation{Schema: IOSchema{Outputs: []TensorSpec{{"p", "FP32", []int64{4, -1}}}}},
			with(func(r *ValidationReport) { r.Outputs[0].Shape = []int64{-1, 7} }), nil},
		{"output rank differs", Validation{Schema: IOSchema{Outputs: []TensorSpec{{"p", "FP32", []int64{-1}}}}}, good,
			[]string{"output p: FP32 [-1, 1] | FP32 [-1]"}},
		{"model needs an extra input", gate, with(func(r *ValidationReport) {
			r.Inputs = append(r.Inputs, TensorSpec{"mask", "BOOL", []int64{-1}})
		}), []string{"input mask: BOOL [-1] | not expected"}},
		{"extra outputs are fine", gate, with(func(r *ValidationReport) {
			r.Outputs = append(r.Outputs, TensorSpec{"debug", "FP32", []int64{-1}})
		}), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := QualityGate(tc.v, tc.r)
			var failed []string
			for _, c := range g.Failed() {
				failed = append(failed, c.Name+": "+c.Observed+" | "+c.Limit)
			}
			if diff := cmp.Diff(tc.failed, failed); diff != "" {
				t.Errorf("failed checks (-want +got):\n%s", diff)
			}
			if g.Pass != (len(tc.failed) == 0) {
				t.Errorf("Pass = %v with %d failed checks", g.Pass, len(failed))
			}
			if g.Pass != strings.HasPrefix(g.String(), "quality gate passed") {
				t.Errorf("String() = %q", g.String())
			}
		})
	}
}

// TestQualityGateNamesEveryCheck: a passing gate still lists each check it ran.
func TestQualityGateNamesEveryCheck(t *testing.T) {
	v := Validation{MinAccuracy: 0.5, MaxP99Latency: time.Second, MaxModelSize: 10,
		Schema: IOSchema{Inputs: []TensorSpec{{"x", "FP32", []int64{1}}}}}
	g := QualityGate(v, ValidationReport{Samples: 1, Accuracy: 1, P99Latency: time.Millisecond, ModelSize: 10, Inputs: []TensorSpec{{"x", "FP32", []int64{1}}}})
	var names []string
	for _, c := range g.Checks {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"accuracy", "p99Latency", "modelSize", "input x"}, names); diff != "" || !g.Pass {
		t.Errorf("checks (-want +got):\n%s (pass %v)", diff, g.Pass)
	}
}
