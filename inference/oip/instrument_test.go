package oip

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference/monitor"
)

// scrape GETs /metrics and parses the text exposition.
func scrape(t *testing.T, srv *httptest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// series returns the metrics of family name whose labels include want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	f, ok := fams[name]
	if !ok {
		return nil
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// value returns the value of the one series of name with labels want, or NaN.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	s := series(fams, name, want)
	if len(s) != 1 {
		return math.NaN()
	}
	switch m := s[0]; {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return math.NaN()
}

func TestMetricsEndpoint(t *testing.T) {
	srv, _, c := pdmServer(t, ServerOptions{})
	const ok, bad = 5, 3
	samples := pdm.Dataset(3, ok)
	for i, s := range samples {
		inferPDM(t, srv, fmt.Sprint("m", i), s)
	}
	for range bad - 1 {
		do(t, srv, "POST", "/v2/models/pdm/infer", `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,6],"data":[1,2,3,4,5,6]}]}`, nil)
	}
	do(t, srv, "POST", "/v2/models/pdm/versions/v9/infer", sensorsBody("", samples[0]), nil)
	do(t, srv, "POST", "/v2/models/initech/infer", sensorsBody("", samples[0]), nil)
	postFeedback(t, srv, "pdm", `{"id":"m0","label":1}`)
	postFeedback(t, srv, "pdm", `{"id":"m1","label":0}`)

	fams := scrape(t, srv)
	pdmV1 := map[string]string{"org": "pdm", "version": "v1"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range m {
			out[a] = b
		}
		return out
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"talon_inference_requests_total", with(pdmV1, "outcome", "ok"), ok},
		{"talon_inference_requests_total", with(pdmV1, "outcome", "client_error"), bad},
		{"talon_inference_request_duration_seconds", map[string]string{"org": "pdm"}, ok + bad},
		{"talon_inference_in_flight_requests", map[string]string{"org": "pdm"}, 0},
		{"talon_inference_unknown_model_requests_total", nil, 1},
		{"talon_feedback_predictions_total", pdmV1, 2}, // two series: correct and incorrect
		{"talon_window_samples", pdmV1, ok},
		{"talon_window_feedback", pdmV1, 2},
		{"talon_model_info", map[string]string{"org": "pdm", "version": "v1", "digest": "sha256:" + sixtyFour('1'), "commit": "c0ffeev1"}, 1},
	}
	for _, tt := range tests {
		var got float64
		if tt.name == "talon_feedback_predictions_total" {
			for _, m := range series(fams, tt.name, tt.labels) {
				got += m.Counter.GetValue()
			}
		} else {
			got = value(fams, tt.name, tt.labels)
		}
		if got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if n := len(series(fams, "talon_inference_requests_total", map[string]string{"org": "initech"})); n != 0 {
		t.Errorf("an unknown org got %d request series", n)
	}
	for _, name := range []string{"process_resident_memory_bytes", "go_goroutines"} {
		if v := value(fams, name, nil); !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}

	// talon_model_info follows the cache: swap, then remove.
	c.Swap("pdm", loadPDM(t, "pdm-v2.onnx", "pdm", "v2"))
	fams = scrape(t, srv)
	if got := series(fams, "talon_model_info", map[string]string{"org": "pdm"}); len(got) != 1 || value(fams, "talon_model_info", map[string]string{"org": "pdm", "version": "v2", "commit": "c0ffeev2"}) != 1 {
		t.Errorf("after swap: %v", got)
	}
	c.Remove("pdm")
	if got := series(scrape(t, srv), "talon_model_info", map[string]string{"org": "pdm"}); len(got) != 0 {
		t.Errorf("after remove: %v", got)
	}
}

// The rolling accuracy fed by feedback equals the accuracy pdm.Evaluate
// computes from the served probabilities and the true labels.
func TestMonitoringAccuracy(t *testing.T) {
	srv, _, _ := pdmServer(t, ServerOptions{})
	data := pdm.Dataset(42, 60)
	var probs []float32
	for i, s := range data {
		_, p := inferPDM(t, srv, fmt.Sprint("acc-", i), s)
		probs = append(probs, p...)
	}
	for i, s := range data {
		if status, r := postFeedback(t, srv, "pdm", fmt.Sprintf(`{"id":"acc-%d","label":%d}`, i, s.Label)); status != 200 {
			t.Fatalf("feedback %d: %d %s", i, status, r.Error)
		}
	}
	eval, err := pdm.Evaluate(probs, data)
	if err != nil {
		t.Fatal(err)
	}
	resp, b := do(t, srv, "GET", "/talon/v1/orgs/pdm/monitoring", "", nil)
	var got MonitoringJSON
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 200 || got.Current == nil {
		t.Fatalf("monitoring: %d %s %v", resp.StatusCode, b, err)
	}
	cur := got.Current
	if got.ServingVersion != "v1" || cur.Version != "v1" || cur.Samples != int64(len(data)) || cur.Feedback != int64(len(data)) ||
		math.Abs(cur.Accuracy-eval.Accuracy) > 1e-6 || cur.WindowSeconds != monitor.DefaultWindow.Seconds() || !(cur.LatencyP99Seconds > 0) ||
		got.Threshold != DefaultThreshold || len(got.Versions) != 1 {
		t.Errorf("monitoring %s; want accuracy %v over %d samples", b, eval.Accuracy, len(data))
	}
	if resp, b := do(t, srv, "GET", "/talon/v1/orgs/initech/monitoring", "", nil); resp.StatusCode != 404 {
		t.Errorf("unknown org: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, srv, "GET", "/talon/v1/orgs/acme/monitoring", "", nil); resp.StatusCode != 200 || string(b) == "" {
		t.Errorf("served org without traffic: %d %s", resp.StatusCode, b)
	}
}

func TestOutcomeOf(t *testing.T) {
	for status, want := range map[int]monitor.Outcome{200: monitor.OK, 400: monitor.ClientError, 404: monitor.ClientError,
		413: monitor.ClientError, StatusClientClosedRequest: monitor.ClientError, 500: monitor.ServerError, 503: monitor.ServerError, 504: monitor.ServerError} {
		if got := outcomeOf(status); got != want {
			t.Errorf("outcomeOf(%d) = %v, want %v", status, got, want)
		}
	}
}

// Without Metrics and Monitor, /metrics and the monitoring route do not exist.
func TestUninstrumentedRoutes(t *testing.T) {
	srv := httptest.NewServer(NewServer(testCache(t), ServerOptions{}))
	defer srv.Close()
	for _, path := range []string{"/metrics", "/talon/v1/orgs/acme/monitoring"} {
		if resp, _ := do(t, srv, "GET", path, "", nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}
