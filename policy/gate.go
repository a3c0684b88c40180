package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ValidationReport is what validating a candidate model measured. It is plain data: the
// inference side's report maps onto it field by field.
type ValidationReport struct {
	// Samples is how many validation rows were evaluated; 0 means accuracy was not measured.
	Samples  int
	Accuracy float64
	// P50Latency and P99Latency are per-inference latencies; zero means not measured.
	P50Latency, P99Latency time.Duration
	// ModelSize is the size of the model file in bytes.
	ModelSize int64
	// Inputs and Outputs are the model's signature as loaded.
	Inputs, Outputs []TensorSpec
}

// Check is one named check with the observed value and the limit side by side.
type Check struct {
	// Name is the check: "accuracy", "p50Latency", "p99Latency", "modelSize",
	// "input sensors", "output failure_probability" (gate); "errorRate", "p99Latency",
	// "accuracy", "samples" (degradation).
	Name     string
	Pass     bool
	Observed string
	Limit    string
	// Detail says what was wrong when the numbers alone do not.
	Detail string
}

func (c Check) String() string {
	verdict := "ok"
	if !c.Pass {
		verdict = "FAILED"
	}
	s := fmt.Sprintf("%s %s: %s (limit %s)", c.Name, verdict, c.Observed, c.Limit)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// GateResult is the quality gate's verdict: Pass when every check passed.
type GateResult struct {
	Pass   bool
	Checks []Check
}

// Failed returns the checks that failed.
func (g GateResult) Failed() []Check {
	var out []Check
	for _, c := range g.Checks {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

// String lists the failed checks, or says that all passed.
func (g GateResult) String() string {
	f := g.Failed()
	if len(f) == 0 {
		return fmt.Sprintf("quality gate passed (%d checks)", len(g.Checks))
	}
	parts := make([]string, len(f))
	for i, c := range f {
		parts[i] = c.String()
	}
	return "quality gate failed: " + strings.Join(parts, "; ")
}

// QualityGate checks a validation report against the thresholds of v. A zero threshold is
// not checked; a value exactly at its threshold passes. A threshold whose measurement is
// missing from the report (no validation rows, no latency) fails: the gate cannot vouch
// for what it did not see. Schema: each expected input must exist with the same datatype
// and rank, and each dimension must equal the expected one or be dynamic (-1) in the
// model; the model may need no input clients do not send. Each expected output must
// exist with the same datatype and rank, dimensions equal or -1 on either side.
func QualityGate(v Validation, r ValidationReport) GateResult {
	var cs []Check
	if v.MinAccuracy > 0 {
		c := Check{Name: "accuracy", Observed: strconv.FormatFloat(r.Accuracy, 'g', 4, 64), Limit: ">= " + strconv.FormatFloat(v.MinAccuracy, 'g', -1, 64)}
		if r.Samples <= 0 {
			c.Observed, c.Detail = "not measured", "no validation rows were evaluated"
		} else {
			c.Pass = r.Accuracy >= v.MinAccuracy
			c.Observed += fmt.Sprintf(" on %d rows", r.Samples)
		}
		cs = append(cs, c)
	}
	cs = appendLatency(cs, "p50Latency", r.P50Latency, v.MaxP50Latency)
	cs = appendLatency(cs, "p99Latency", r.P99Latency, v.MaxP99Latency)
	if v.MaxModelSize > 0 {
		cs = append(cs, Check{Name: "modelSize", Pass: r.ModelSize > 0 && r.ModelSize <= int64(v.MaxModelSize),
			Observed: fmt.Sprintf("%d bytes", r.ModelSize), Limit: fmt.Sprintf("<= %d bytes (%s)", int64(v.MaxModelSize), v.MaxModelSize)})
	}
	cs = append(cs, schemaChecks("input", v.Schema.Inputs, r.Inputs, false)...)
	cs = append(cs, schemaChecks("output", v.Schema.Outputs, r.Outputs, true)...)
	if len(v.Schema.Inputs) > 0 {
		for _, t := range r.Inputs {
			if findTensor(v.Schema.Inputs, t.Name) == nil {
				cs = append(cs, Check{Name: "input " + t.Name, Observed: describeTensor(&t), Limit: "not expected",
					Detail: "the model needs an input clients do not send"})
			}
		}
	}
	g := GateResult{Pass: true, Checks: cs}
	for _, c := range cs {
		g.Pass = g.Pass && c.Pass
	}
	return g
}

func appendLatency(cs []Check, name string, got, max time.Duration) []Check {
	if max <= 0 {
		return cs
	}
	c := Check{Name: name, Pass: got > 0 && got <= max, Observed: got.String(), Limit: "<= " + max.String()}
	if got <= 0 {
		c.Observed, c.Detail = "not measured", "no latency was measured"
	}
	return append(cs, c)
}

func schemaChecks(kind string, want, got []TensorSpec, output bool) []Check {
	var cs []Check
	for i := range want {
		w := &want[i]
		g := findTensor(got, w.Name)
		c := Check{Name: kind + " " + w.Name, Observed: describeTensor(g), Limit: describeTensor(w), Pass: true}
		switch {
		case g == nil:
			c.Pass, c.Detail = false, "the model has no "+kind+" of that name"
		case g.Datatype != w.Datatype:
			c.Pass, c.Detail = false, "datatype differs"
		case len(g.Shape) != len(w.Shape):
			c.Pass, c.Detail = false, "rank differs"
		default:
			for d := range w.Shape {
				ok := g.Shape[d] == w.Shape[d] || g.Shape[d] == -1 || (output && w.Shape[d] == -1)
				if !ok {
					c.Pass, c.Detail = false, fmt.Sprintf("dimension %d: model has %d, expected %d", d, g.Shape[d], w.Shape[d])
					break
				}
			}
		}
		cs = append(cs, c)
	}
	return cs
}

func findTensor(ts []TensorSpec, name string) *TensorSpec {
	for i := range ts {
		if ts[i].Name == name {
			return &ts[i]
		}
	}
	return nil
}

func describeTensor(t *TensorSpec) string {
	if t == nil {
		return "missing"
	}
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = strconv.FormatInt(d, 10)
	}
	return fmt.Sprintf("%s [%s]", t.Datatype, strings.Join(dims, ", "))
}
