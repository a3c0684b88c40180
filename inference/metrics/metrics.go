// Package metrics exposes Talon's serving, model lifecycle, validation and
// reconcile metrics to Prometheus, from a registry of its own.
//
// Label cardinality is bounded: org labels come from the callers, which pass
// only orgs they serve (requests for an unknown model are counted without an
// org), and the reconciler only orgs of its config, with reasons from a fixed
// set; an org keeps request and feedback series for at most MaxVersions model
// versions; no metric is labelled by request.
package metrics

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/monitor"
)

// MaxVersions is the number of model versions per org whose request and
// feedback series are kept; when a further version serves, the series of the
// one that appeared first are deleted.
const MaxVersions = 4

// Options tunes New. The zero value is ready to use.
type Options struct {
	// Cache, when set, is exported as talon_model_info, read at scrape time.
	Cache *inference.Cache
	// Monitor, when set, exports each org's current rolling window as
	// talon_window_* gauges, read at scrape time.
	Monitor *monitor.Monitor
}

// Validation is what ObserveValidation records of one validation gate run.
type Validation struct {
	// Passed tells whether the candidate passed the gate.
	Passed bool
	// Accuracy on the validation set (0..1).
	Accuracy float64
	// P50 and P99 inference latency over the validation set.
	P50, P99 time.Duration
	// Samples is the number of validation rows.
	Samples int
}

// Metrics holds Talon's collectors and the registry that exports them, with
// the Go runtime and process (CPU, memory, file descriptors) collectors. Its
// methods are safe for concurrent use; the per-request ones take no lock once
// an org's version has been seen.
type Metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	inFlight    *prometheus.GaugeVec
	unknown     prometheus.Counter
	feedback    *prometheus.CounterVec
	loads       *prometheus.CounterVec
	loadSecs    *prometheus.HistogramVec
	swaps       *prometheus.CounterVec
	swapSecs    *prometheus.HistogramVec
	validations *prometheus.CounterVec
	valGauges   []*prometheus.GaugeVec // accuracy, p50, p99, samples, passed by org, version
	rec         *reconcileMx

	mu   sync.Mutex                          // serializes writers of orgs
	orgs atomic.Pointer[map[string]*Request] // copy-on-write
}

// Request holds the series of one org's requests, resolved once so the hot
// path looks up no labels.
type Request struct {
	m        *Metrics
	org      string
	latency  prometheus.Observer
	inFlight prometheus.Gauge
	versions atomic.Pointer[[]*versionMx] // oldest first; changed under Metrics.mu
}

type versionMx struct {
	version            string
	outcomes           [3]prometheus.Counter // by monitor.Outcome
	correct, incorrect prometheus.Counter
}

// Latency buckets (seconds): inference from tens of µs to seconds, loads from
// ms to a minute, swaps (a pointer swap plus whatever the caller times) from µs.
var (
	RequestBuckets = []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10}
	LoadBuckets    = []float64{1e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30, 60}
	SwapBuckets    = []float64{1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1, 10}
)

// New returns Metrics registered in a new registry.
func New(opts Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.orgs.Store(&map[string]*Request{})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "talon_inference_requests_total",
		Help: "Inference requests by org, serving model version and outcome (ok, client_error, server_error)."},
		[]string{"org", "version", "outcome"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "talon_inference_request_duration_seconds",
		Help: "Time from receiving an inference request to its response being written, by org.", Buckets: RequestBuckets},
		[]string{"org"})
	m.inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "talon_inference_in_flight_requests",
		Help: "Inference requests being served, by org."}, []string{"org"})
	m.unknown = prometheus.NewCounter(prometheus.CounterOpts{Name: "talon_inference_unknown_model_requests_total",
		Help: "Requests naming a model (org) that is not served."})
	m.feedback = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "talon_feedback_predictions_total",
		Help: "Predictions whose actual outcome was reported, by org, model version and outcome (correct, incorrect)."},
		[]string{"org", "version", "outcome"})
	m.loads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "talon_model_loads_total",
		Help: "Model loads into ONNX Runtime by org and outcome (ok, error)."}, []string{"org", "outcome"})
	m.loadSecs = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "talon_model_load_duration_seconds",
		Help: "Time to load (and warm up) a model, by org.", Buckets: LoadBuckets}, []string{"org"})
	m.swaps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "talon_model_swaps_total",
		Help: "Serving model swaps by org."}, []string{"org"})
	m.swapSecs = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "talon_model_swap_duration_seconds",
		Help: "Time to swap a loaded model into service, by org.", Buckets: SwapBuckets}, []string{"org"})
	m.validations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "talon_validations_total",
		Help: "Validation gate runs by org and outcome (passed, failed)."}, []string{"org", "outcome"})
	for _, g := range [][2]string{
		{"talon_validation_accuracy", "Accuracy of the org's last validated candidate on its validation set (0..1)."},
		{"talon_validation_latency_p50_seconds", "Median inference latency of the org's last validated candidate over its validation set."},
		{"talon_validation_latency_p99_seconds", "p99 inference latency of the org's last validated candidate over its validation set."},
		{"talon_validation_samples", "Rows in the validation set of the org's last validated candidate."},
		{"talon_validation_passed", "1 if the org's last validated candidate passed the gate, else 0."},
	} {
		m.valGauges = append(m.valGauges, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: g[0], Help: g[1]}, []string{"org", "version"}))
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.inFlight, m.unknown, m.feedback, m.loads, m.loadSecs, m.swaps, m.swapSecs, m.validations)
	for _, g := range m.valGauges {
		m.reg.MustRegister(g)
	}
	m.rec = newReconcileMx(m.reg)
	if opts.Cache != nil {
		m.reg.MustRegister(modelInfoCollector{opts.Cache})
	}
	if opts.Monitor != nil {
		m.reg.MustRegister(windowCollector{opts.Monitor})
	}
	return m
}

// Registry returns the registry the metrics are in, for registering more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats (mount it
// at /metrics). Scrapes are counted in promhttp_metric_handler_requests_total.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
}

// RequestStarted counts an inference request of org in flight until the
// returned Request's Finished is called.
func (m *Metrics) RequestStarted(org string) *Request {
	r := m.org(org)
	r.inFlight.Inc()
	return r
}

// Finished records the end of a request started with RequestStarted: the
// version that served it (or would have), its outcome and its duration.
func (r *Request) Finished(version string, o monitor.Outcome, d time.Duration) {
	r.inFlight.Dec()
	r.latency.Observe(d.Seconds())
	if int(o) < len(versionMx{}.outcomes) {
		r.m.version(r.org, r, version).outcomes[o].Inc()
	}
}

// ObserveUnknownModel counts a request for a model that is not served.
func (m *Metrics) ObserveUnknownModel() { m.unknown.Inc() }

// ObserveFeedback records the actual outcome of rows predictions of org's
// version, correct of which were right.
func (m *Metrics) ObserveFeedback(org, version string, rows, correct int) {
	v := m.version(org, m.org(org), version)
	v.correct.Add(float64(correct))
	v.incorrect.Add(float64(rows - correct))
}

// ObserveLoad records a model load of org that took d; err is the load's error
// (nil on success).
func (m *Metrics) ObserveLoad(org string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.loads.WithLabelValues(org, outcome).Inc()
	m.loadSecs.WithLabelValues(org).Observe(d.Seconds())
}

// ObserveSwap records that a new model of org went into service, the swap
// having taken d.
func (m *Metrics) ObserveSwap(org string, d time.Duration) {
	m.swaps.WithLabelValues(org).Inc()
	m.swapSecs.WithLabelValues(org).Observe(d.Seconds())
}

// ObserveValidation records a validation gate run of org's candidate version.
// The talon_validation_* gauges show the org's latest run only.
func (m *Metrics) ObserveValidation(org, version string, v Validation) {
	outcome, passed := "failed", 0.0
	if v.Passed {
		outcome, passed = "passed", 1
	}
	m.validations.WithLabelValues(org, outcome).Inc()
	for i, val := range []float64{v.Accuracy, v.P50.Seconds(), v.P99.Seconds(), float64(v.Samples), passed} {
		g := m.valGauges[i]
		g.DeletePartialMatch(prometheus.Labels{"org": org})
		g.WithLabelValues(org, version).Set(val)
	}
}

// Forget deletes every series of org (for an org no longer configured).
func (m *Metrics) Forget(org string) {
	m.mu.Lock()
	cur := *m.orgs.Load()
	if _, ok := cur[org]; ok {
		next := make(map[string]*Request, len(cur))
		for k, v := range cur {
			if k != org {
				next[k] = v
			}
		}
		m.orgs.Store(&next)
	}
	m.mu.Unlock()
	l := prometheus.Labels{"org": org}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.requests, m.latency, m.inFlight, m.feedback, m.loads, m.loadSecs, m.swaps, m.swapSecs, m.validations,
	} {
		v.DeletePartialMatch(l)
	}
	for _, g := range m.valGauges {
		g.DeletePartialMatch(l)
	}
	m.rec.forget(org)
}

// org returns org's cached series, creating them on first use.
func (m *Metrics) org(org string) *Request {
	if om, ok := (*m.orgs.Load())[org]; ok {
		return om
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.orgs.Load()
	if om, ok := cur[org]; ok {
		return om
	}
	om := &Request{m: m, org: org, latency: m.latency.WithLabelValues(org), inFlight: m.inFlight.WithLabelValues(org)}
	om.versions.Store(&[]*versionMx{})
	next := make(map[string]*Request, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[org] = om
	m.orgs.Store(&next)
	return om
}

// version returns the cached series of org's version, creating them on first
// use and deleting those of the oldest version beyond MaxVersions.
func (m *Metrics) version(org string, om *Request, version string) *versionMx {
	vs := *om.versions.Load()
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].version == version {
			return vs[i]
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	vs = *om.versions.Load()
	for _, v := range vs {
		if v.version == version {
			return v
		}
	}
	v := &versionMx{version: version,
		correct:   m.feedback.WithLabelValues(org, version, "correct"),
		incorrect: m.feedback.WithLabelValues(org, version, "incorrect")}
	for o := range v.outcomes {
		v.outcomes[o] = m.requests.WithLabelValues(org, version, monitor.Outcome(o).String())
	}
	next := append(slices.Clone(vs), v)
	if len(next) > MaxVersions {
		old := next[0].version
		for o := range v.outcomes {
			m.requests.DeleteLabelValues(org, old, monitor.Outcome(o).String())
		}
		m.feedback.DeleteLabelValues(org, old, "correct")
		m.feedback.DeleteLabelValues(org, old, "incorrect")
		next = next[1:]
	}
	om.versions.Store(&next)
	return v
}
