package metrics

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eaglenotifier/talon/inference/monitor"
)

// scrape serves m over HTTP, GETs it and returns every sample as
// `name{l1="v1",...}` → value (histograms as their _count).
func scrape(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, mt := range f.Metric {
			out[key(name, mt.Label)] = sampleValue(mt)
		}
	}
	return out
}

func key(name string, labels []*dto.LabelPair) string {
	var ls []string
	for _, l := range labels {
		ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(ls)
	return fmt.Sprintf("%s%v", name, ls)
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

// matching returns the samples of name, keyed as key does.
func matching(all map[string]float64, name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range all {
		if strings.HasPrefix(k, name+"[") {
			out[k] = v
		}
	}
	return out
}

func TestLifecycleMetrics(t *testing.T) {
	m := New(Options{})
	m.ObserveLoad("acme", 120*time.Millisecond, nil)
	m.ObserveLoad("acme", 3*time.Millisecond, errors.New("not ONNX"))
	m.ObserveSwap("acme", 40*time.Microsecond)
	m.ObserveValidation("acme", "v1", Validation{Passed: true, Accuracy: 0.94, P99: 2 * time.Millisecond, Samples: 500})
	m.ObserveValidation("acme", "v2", Validation{Passed: false, Accuracy: 0.61, P50: time.Millisecond, P99: 3 * time.Millisecond, Samples: 500})
	got := scrape(t, m)
	want := map[string]float64{
		`talon_model_loads_total[org="acme" outcome="ok"]`:              1,
		`talon_model_loads_total[org="acme" outcome="error"]`:           1,
		`talon_model_load_duration_seconds[org="acme"]`:                 2,
		`talon_model_swaps_total[org="acme"]`:                           1,
		`talon_model_swap_duration_seconds[org="acme"]`:                 1,
		`talon_validations_total[org="acme" outcome="passed"]`:          1,
		`talon_validations_total[org="acme" outcome="failed"]`:          1,
		`talon_validation_accuracy[org="acme" version="v2"]`:            0.61,
		`talon_validation_latency_p99_seconds[org="acme" version="v2"]`: 0.003,
		`talon_validation_samples[org="acme" version="v2"]`:             500,
		`talon_validation_passed[org="acme" version="v2"]`:              0,
		`talon_inference_unknown_model_requests_total[]`:                0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if n := len(matching(got, "talon_validation_accuracy")); n != 1 {
		t.Errorf("%d talon_validation_accuracy series, want only the latest version's", n)
	}
	for _, name := range []string{"process_resident_memory_bytes", "process_virtual_memory_bytes", "go_goroutines"} {
		if got[name+"[]"] <= 0 {
			t.Errorf("%s = %v, want > 0", name, got[name+"[]"])
		}
	}
	if _, ok := got["process_cpu_seconds_total[]"]; !ok { // may still be 0 (10ms ticks)
		t.Error("process_cpu_seconds_total missing")
	}
}

// An org keeps request and feedback series of at most MaxVersions versions.
func TestVersionCardinality(t *testing.T) {
	m := New(Options{})
	for i := 1; i <= MaxVersions+2; i++ {
		v := fmt.Sprintf("v%d", i)
		r := m.RequestStarted("acme")
		r.Finished(v, monitor.OK, time.Millisecond)
		m.ObserveFeedback("acme", v, 3, 2)
	}
	m.RequestStarted("acme").Finished(fmt.Sprintf("v%d", MaxVersions+2), monitor.ServerError, time.Millisecond)
	got := scrape(t, m)
	versions := map[string]bool{}
	versionLabel := regexp.MustCompile(`version="([^"]*)"`)
	for k := range matching(got, "talon_inference_requests_total") {
		versions[versionLabel.FindStringSubmatch(k)[1]] = true
	}
	want := map[string]bool{}
	for i := 3; i <= MaxVersions+2; i++ {
		want[fmt.Sprintf("v%d", i)] = true
	}
	if diff := cmp.Diff(want, versions); diff != "" {
		t.Errorf("request series versions (-want +got):\n%s", diff)
	}
	last := fmt.Sprintf("v%d", MaxVersions+2)
	for k, v := range map[string]float64{
		`talon_inference_requests_total[org="acme" outcome="ok" version="` + last + `"]`:           1,
		`talon_inference_requests_total[org="acme" outcome="server_error" version="` + last + `"]`: 1,
		`talon_feedback_predictions_total[org="acme" outcome="correct" version="` + last + `"]`:    2,
		`talon_feedback_predictions_total[org="acme" outcome="incorrect" version="` + last + `"]`:  1,
		`talon_inference_request_duration_seconds[org="acme"]`:                                     MaxVersions + 3,
		`talon_inference_in_flight_requests[org="acme"]`:                                           0,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if n := len(matching(got, "talon_feedback_predictions_total")); n != 2*MaxVersions {
		t.Errorf("%d feedback series, want %d", n, 2*MaxVersions)
	}
	m.Forget("acme")
	for k := range scrape(t, m) {
		if strings.Contains(k, `org="acme"`) {
			t.Errorf("after Forget: %s", k)
		}
	}
}

// In-flight counts requests between RequestStarted and Finished.
func TestInFlight(t *testing.T) {
	m := New(Options{})
	a, b := m.RequestStarted("acme"), m.RequestStarted("acme")
	if got := scrape(t, m)[`talon_inference_in_flight_requests[org="acme"]`]; got != 2 {
		t.Errorf("in flight = %v, want 2", got)
	}
	a.Finished("v1", monitor.OK, time.Millisecond)
	b.Finished("v1", monitor.ClientError, time.Millisecond)
	if got := scrape(t, m)[`talon_inference_in_flight_requests[org="acme"]`]; got != 0 {
		t.Errorf("in flight = %v, want 0", got)
	}
}

func TestWindowCollector(t *testing.T) {
	mon := monitor.New(monitor.Options{})
	m := New(Options{Monitor: mon})
	for i := range 10 {
		o := monitor.OK
		if i < 2 {
			o = monitor.ServerError
		}
		mon.ObserveRequest("acme", "v3", time.Now(), time.Duration(i+1)*time.Millisecond, o)
	}
	mon.ObserveFeedback("acme", "v3", time.Now(), 4, 3)
	got := scrape(t, m)
	st, _ := mon.Snapshot("acme")
	for k, v := range map[string]float64{
		`talon_window_samples[org="acme" version="v3"]`:             10,
		`talon_window_error_ratio[org="acme" version="v3"]`:         0.2,
		`talon_window_accuracy[org="acme" version="v3"]`:            0.75,
		`talon_window_feedback[org="acme" version="v3"]`:            4,
		`talon_window_latency_p99_seconds[org="acme" version="v3"]`: st.P99.Seconds(),
		`talon_window_length_seconds[org="acme" version="v3"]`:      300,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	m := New(Options{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.RequestStarted("acme").Finished("v1", monitor.OK, 120*time.Microsecond)
		}
	})
}
