package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/monitor"
)

var modelInfoDesc = prometheus.NewDesc("talon_model_info",
	"The model serving each org: version, OCI manifest digest and config commit (always 1).",
	[]string{"org", "version", "digest", "commit"}, nil)

// modelInfoCollector reads the serving cache at scrape time, so the series can
// never disagree with what serves.
type modelInfoCollector struct{ cache *inference.Cache }

func (c modelInfoCollector) Describe(ch chan<- *prometheus.Desc) { ch <- modelInfoDesc }

func (c modelInfoCollector) Collect(ch chan<- prometheus.Metric) {
	for _, org := range c.cache.Orgs() {
		info, _, ok := c.cache.Get(org)
		if !ok {
			continue // removed since Orgs
		}
		ch <- prometheus.MustNewConstMetric(modelInfoDesc, prometheus.GaugeValue, 1, org, info.Version, info.Digest, info.ConfigCommit)
	}
}

var windowLabels = []string{"org", "version"}

var windowDescs = struct {
	samples, errorRatio, p50, p99, feedback, accuracy, seconds *prometheus.Desc
}{
	samples:    prometheus.NewDesc("talon_window_samples", "Requests the current model answered or failed in the org's rolling window.", windowLabels, nil),
	errorRatio: prometheus.NewDesc("talon_window_error_ratio", "Server errors / samples in the org's rolling window.", windowLabels, nil),
	p50:        prometheus.NewDesc("talon_window_latency_p50_seconds", "Median latency of successful requests in the org's rolling window.", windowLabels, nil),
	p99:        prometheus.NewDesc("talon_window_latency_p99_seconds", "p99 latency of successful requests in the org's rolling window.", windowLabels, nil),
	feedback:   prometheus.NewDesc("talon_window_feedback", "Predictions with reported outcomes in the org's rolling window.", windowLabels, nil),
	accuracy:   prometheus.NewDesc("talon_window_accuracy", "Correct / reported predictions in the org's rolling window (0 without feedback).", windowLabels, nil),
	seconds:    prometheus.NewDesc("talon_window_length_seconds", "Length of the org's rolling window.", windowLabels, nil),
}

// windowCollector exports each org's current rolling window at scrape time.
type windowCollector struct{ mon *monitor.Monitor }

func (c windowCollector) Describe(ch chan<- *prometheus.Desc) {
	d := windowDescs
	for _, desc := range []*prometheus.Desc{d.samples, d.errorRatio, d.p50, d.p99, d.feedback, d.accuracy, d.seconds} {
		ch <- desc
	}
}

func (c windowCollector) Collect(ch chan<- prometheus.Metric) {
	d := windowDescs
	for _, org := range c.mon.Orgs() {
		st, ok := c.mon.Snapshot(org)
		if !ok {
			continue
		}
		for _, v := range []struct {
			desc *prometheus.Desc
			val  float64
		}{
			{d.samples, float64(st.Samples)}, {d.errorRatio, st.ErrorRate}, {d.p50, st.P50.Seconds()}, {d.p99, st.P99.Seconds()},
			{d.feedback, float64(st.Feedback)}, {d.accuracy, st.Accuracy}, {d.seconds, st.Window.Seconds()},
		} {
			ch <- prometheus.MustNewConstMetric(v.desc, prometheus.GaugeValue, v.val, org, st.Version)
		}
	}
}
