package metrics

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PassBuckets (seconds) span reconcile passes from a config read that changed
// nothing to pulls and validations of many orgs.
var PassBuckets = []float64{10e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Result label values of the reconcile counters.
const (
	resultSuccess = "success"
	resultError   = "error"
	resultFailed  = "failed"
)

// reconcileMx holds the reconciler's series: config fetches, passes, per-org
// outcomes and status write-backs. Org labels come from the reconciler, which
// passes only orgs of the config; reasons come from its fixed set.
type reconcileMx struct {
	fetches     *prometheus.CounterVec // result
	lastFetch   prometheus.Gauge
	commitInfo  *prometheus.GaugeVec // commit; one series
	passSecs    prometheus.Histogram
	orgRuns     *prometheus.CounterVec // org, result
	orgFailures *prometheus.CounterVec // org, reason
	publishes   *prometheus.CounterVec // result

	mu     sync.Mutex          // guards the fields below
	commit string              // commitInfo's one label value
	orgs   map[string]struct{} // orgs with orgRuns or orgFailures series
	source bool                // a ReconcileSource is registered
}

func newReconcileMx(reg *prometheus.Registry) *reconcileMx {
	x := &reconcileMx{
		orgs: map[string]struct{}{},
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "talon_config_fetch_total",
			Help: "Fetches of the config repository by result (success, error)."}, []string{"result"}),
		lastFetch: prometheus.NewGauge(prometheus.GaugeOpts{Name: "talon_config_last_success_timestamp_seconds",
			Help: "Unix time of the last successful fetch of the config repository (0 before the first)."}),
		commitInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "talon_config_commit_info",
			Help: "The config repository commit the last successful fetch read (always 1)."}, []string{"commit"}),
		passSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "talon_reconcile_duration_seconds",
			Help: "Time of reconcile passes that did work: fetch, config read, org reconciles and status write-back.", Buckets: PassBuckets}),
		orgRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "talon_org_reconcile_total",
			Help: "Org reconciles by org and result (success, failed); a change held for its deployment window is neither."},
			[]string{"org", "result"}),
		orgFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "talon_org_failures_total",
			Help: "Failed org reconciles by org and reason (the Ready condition's reason, such as PullFailed)."},
			[]string{"org", "reason"}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "talon_status_publish_total",
			Help: "Write-backs of org status to the config repository by result (success, error)."}, []string{"result"}),
	}
	for _, r := range []string{resultSuccess, resultError} { // so rate() sees a 0 before the first event
		x.fetches.WithLabelValues(r)
		x.publishes.WithLabelValues(r)
	}
	reg.MustRegister(x.fetches, x.lastFetch, x.commitInfo, x.passSecs, x.orgRuns, x.orgFailures, x.publishes)
	return x
}

// ObserveConfigFetch records a fetch of the config repository that ended at
// time at: err is its error (nil on success), and commit the head it read.
func (m *Metrics) ObserveConfigFetch(commit string, at time.Time, err error) {
	x := m.rec
	if err != nil {
		x.fetches.WithLabelValues(resultError).Inc()
		return
	}
	x.fetches.WithLabelValues(resultSuccess).Inc()
	x.lastFetch.Set(float64(at.UnixNano()) / 1e9)
	x.mu.Lock()
	defer x.mu.Unlock()
	if commit != x.commit {
		x.commitInfo.Reset()
		x.commitInfo.WithLabelValues(commit).Set(1)
		x.commit = commit
	}
}

// ObservePass records a reconcile pass that did work and took d.
func (m *Metrics) ObservePass(d time.Duration) { m.rec.passSecs.Observe(d.Seconds()) }

// ObserveOrgReconcile records the end of one reconcile of org: success when
// reason is "", else a failure for that reason. Callers pass only orgs of the
// config and reasons from a fixed set.
func (m *Metrics) ObserveOrgReconcile(org, reason string) {
	x := m.rec
	x.mu.Lock() // so RetainOrgs cannot delete the org between the two
	defer x.mu.Unlock()
	x.orgs[org] = struct{}{}
	if reason == "" {
		x.orgRuns.WithLabelValues(org, resultSuccess).Inc()
		return
	}
	x.orgRuns.WithLabelValues(org, resultFailed).Inc()
	x.orgFailures.WithLabelValues(org, reason).Inc()
}

// ObserveStatusPublish records a write-back of status to the config
// repository; err is its error (nil on success, with or without a commit).
func (m *Metrics) ObserveStatusPublish(err error) {
	result := resultSuccess
	if err != nil {
		result = resultError
	}
	m.rec.publishes.WithLabelValues(result).Inc()
}

// RetainOrgs deletes the talon_org_reconcile_total and talon_org_failures_total
// series of every org not in orgs (the orgs of the config), including orgs
// that never served and so are not given to Forget.
func (m *Metrics) RetainOrgs(orgs []string) {
	keep := make(map[string]bool, len(orgs))
	for _, o := range orgs {
		keep[o] = true
	}
	x := m.rec
	x.mu.Lock()
	defer x.mu.Unlock()
	for org := range x.orgs {
		if !keep[org] {
			x.forgetLocked(org)
		}
	}
}

func (x *reconcileMx) forget(org string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.forgetLocked(org)
}

func (x *reconcileMx) forgetLocked(org string) {
	delete(x.orgs, org)
	l := prometheus.Labels{"org": org}
	x.orgRuns.DeletePartialMatch(l)
	x.orgFailures.DeletePartialMatch(l)
}

// OrgHealth is one org's reconcile state as the reconciler holds it.
type OrgHealth struct {
	Org string
	// Phase is the org's phase in the deployment state machine, such as Deployed.
	Phase string
	// Ready is false while the org's desired state is not serving: its last
	// reconcile failed, or a change waits for its deployment window.
	Ready bool
	// Stalled is true when the failure needs a change to the desired state.
	Stalled bool
}

// ReconcileSource reports the health of every org of the config, at the call;
// *reconciler.Reconciler is one.
type ReconcileSource interface {
	OrgHealth() []OrgHealth
}

// ErrSourceRegistered is returned by a second RegisterReconciler.
var ErrSourceRegistered = errors.New("metrics: a reconcile source is already registered")

// RegisterReconciler exports src's orgs at scrape time, so no series outlives
// an org removed from the config:
//
//	talon_org_phase{org,phase}                    1 for the current phase, 0 for the others
//	talon_org_condition{org,type,status}          Ready and Stalled, as Flux's gotk_reconcile_condition
//
// phases lists every phase, each of which gets a series; a current phase not
// listed is exported too. Only one source may be registered.
func (m *Metrics) RegisterReconciler(src ReconcileSource, phases ...string) error {
	x := m.rec
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.source {
		return ErrSourceRegistered
	}
	var uniq []string
	for _, p := range phases {
		if !slices.Contains(uniq, p) {
			uniq = append(uniq, p)
		}
	}
	if err := m.reg.Register(orgHealthCollector{src: src, phases: uniq}); err != nil {
		return err
	}
	x.source = true
	return nil
}

var (
	orgPhaseDesc = prometheus.NewDesc("talon_org_phase",
		"1 for the org's current phase in the deployment state machine, 0 for the others.", []string{"org", "phase"}, nil)
	orgConditionDesc = prometheus.NewDesc("talon_org_condition",
		"The org's Ready and Stalled conditions: 1 for the current status (True, False), 0 for the other.",
		[]string{"org", "type", "status"}, nil)
)

// orgHealthCollector reads the reconciler's state at scrape time.
type orgHealthCollector struct {
	src    ReconcileSource
	phases []string
}

func (c orgHealthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- orgPhaseDesc
	ch <- orgConditionDesc
}

func (c orgHealthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, o := range c.src.OrgHealth() {
		listed := false
		for _, p := range c.phases {
			listed = listed || p == o.Phase
			ch <- prometheus.MustNewConstMetric(orgPhaseDesc, prometheus.GaugeValue, boolValue(p == o.Phase), o.Org, p)
		}
		if !listed && o.Phase != "" {
			ch <- prometheus.MustNewConstMetric(orgPhaseDesc, prometheus.GaugeValue, 1, o.Org, o.Phase)
		}
		for _, cond := range []struct {
			typ string
			val bool
		}{{"Ready", o.Ready}, {"Stalled", o.Stalled}} {
			ch <- prometheus.MustNewConstMetric(orgConditionDesc, prometheus.GaugeValue, boolValue(cond.val), o.Org, cond.typ, "True")
			ch <- prometheus.MustNewConstMetric(orgConditionDesc, prometheus.GaugeValue, boolValue(!cond.val), o.Org, cond.typ, "False")
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
