// Package monitor keeps rolling time windows of each organization's serving
// health: request outcomes, latency percentiles and accuracy from feedback, per
// model version, cheaply enough to update on every request.
package monitor

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	// DefaultWindow is the length of a rolling window.
	DefaultWindow = 5 * time.Minute
	// DefaultBuckets is the number of time buckets a window is divided into; a
	// window slides one bucket (DefaultWindow/DefaultBuckets = 10s) at a time.
	DefaultBuckets = 30
	// DefaultHistory is how much further back than the window Intervals reach,
	// unless SetWindow says otherwise.
	DefaultHistory = 5 * time.Minute
	// MaxVersions is the number of model versions whose windows an org keeps;
	// when a further version appears, the one seen least recently is dropped.
	MaxVersions = 4
)

// Outcome classifies a finished request.
type Outcome uint8

// Outcomes of a request.
const (
	// OK is a request the model answered.
	OK Outcome = iota
	// ClientError is a request refused because it was wrong (HTTP 4xx): it says
	// nothing about the model and is not a sample.
	ClientError
	// ServerError is a request that failed on the serving side (HTTP 5xx).
	ServerError
)

// String returns "ok", "client_error" or "server_error".
func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case ClientError:
		return "client_error"
	}
	return "server_error"
}

// WindowStats summarizes one model version of one org over a rolling window.
// Rates and percentiles are 0 when there is nothing to compute them from; read
// Samples and Feedback before trusting them.
type WindowStats struct {
	Org     string
	Version string
	// Window is the window's length; From..To is the span it covers, From being
	// up to one bucket (Window/buckets) later than To−Window.
	Window   time.Duration
	From, To time.Time
	// Samples counts requests the model was asked to answer: successes plus
	// server errors. ClientErrors (bad requests) are counted apart.
	Samples      int64
	Errors       int64
	ClientErrors int64
	// ErrorRate is Errors / Samples.
	ErrorRate float64
	// P50 and P99 are latency percentiles of the successful requests, within
	// about ±6.5% (histogram bucket resolution).
	P50, P99 time.Duration
	// Feedback counts predictions (rows) whose actual outcome was reported in
	// the window; Correct counts those the model got right.
	Feedback int64
	Correct  int64
	// Accuracy is Correct / Feedback.
	Accuracy float64
}

// Interval is one time bucket of a version's window: what policy's
// degradation decision takes as a sample (At = End, Requests = Samples,
// Labeled = Feedback).
type Interval struct {
	// End is the end of the bucket (now, for the current one).
	End time.Time
	// Samples, Errors, ClientErrors, Feedback and Correct count as in
	// WindowStats, over the bucket.
	Samples, Errors, ClientErrors, Feedback, Correct int64
	// P99 is the bucket's p99 latency of successful requests.
	P99 time.Duration
}

// Options tunes New. The zero value is ready to use.
type Options struct {
	// Window is the default window length of an org (SetWindow overrides it per
	// org). The default is DefaultWindow (5m).
	Window time.Duration
	// History is how much further back than the window Intervals reach (see
	// SetWindow). The default is DefaultHistory (5m).
	History time.Duration
	// Buckets is the number of time buckets per window. The default is
	// DefaultBuckets (30).
	Buckets int
	// Now is the clock Snapshot reads. The default is time.Now.
	Now func() time.Time
}

// Monitor holds the rolling windows of every org. It is safe for concurrent
// use; recording takes no lock shared between orgs (nor, except when a new
// time bucket starts, within one). Callers pass only orgs they serve: every org
// named gets windows until Remove.
type Monitor struct {
	opts Options
	mu   sync.Mutex                           // serializes writers of orgs
	orgs atomic.Pointer[map[string]*orgState] // copy-on-write
}

// config is an org's window length and extra history.
type config struct{ window, history time.Duration }

type orgState struct {
	mu       sync.Mutex // serializes changes to rings and cfg
	cfg      config
	rings    atomic.Pointer[[]*ring] // newest first
	current  atomic.Pointer[ring]    // the version that answered the latest request
	lastUsed map[*ring]int64         // guarded by mu: a use counter for eviction
	uses     int64
}

// New returns an empty Monitor.
func New(opts Options) *Monitor {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.Buckets <= 0 {
		opts.Buckets = DefaultBuckets
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Monitor{opts: opts}
	m.orgs.Store(&map[string]*orgState{})
	return m
}

// ObserveRequest records one request of org served by version that finished
// at time at (the caller's clock reading, which it has anyway to measure the
// latency; Snapshot windows are on Options.Now). Latency counts only for OK
// requests.
func (m *Monitor) ObserveRequest(org, version string, at time.Time, latency time.Duration, o Outcome) {
	st := m.state(org)
	r := st.ring(version, m.opts.Buckets)
	if st.current.Load() != r {
		st.current.Store(r)
	}
	r.observe(at, latency, o)
}

// ObserveFeedback records, at time at, the actual outcome of rows earlier
// predictions of org's version, correct of which the model got right. It does
// not change which version Snapshot reports.
func (m *Monitor) ObserveFeedback(org, version string, at time.Time, rows, correct int) {
	m.state(org).ring(version, m.opts.Buckets).feedback(at, rows, correct)
}

// Snapshot returns the window of the version of org that answered the latest
// request (right after a swap, requests still finishing on the old version may
// make it that one for a moment; SnapshotVersion asks for a version by name).
// ok is false when org has answered no request.
func (m *Monitor) Snapshot(org string) (WindowStats, bool) {
	st, ok := (*m.orgs.Load())[org]
	if !ok {
		return WindowStats{}, false
	}
	r := st.current.Load()
	if r == nil {
		return WindowStats{}, false
	}
	return r.stats(org, m.opts.Now()), true
}

// SnapshotVersion returns the window of one version of org; ok is false when
// the monitor has no window for it.
func (m *Monitor) SnapshotVersion(org, version string) (WindowStats, bool) {
	st, ok := (*m.orgs.Load())[org]
	if !ok {
		return WindowStats{}, false
	}
	for _, r := range *st.rings.Load() {
		if r.version == version {
			return r.stats(org, m.opts.Now()), true
		}
	}
	return WindowStats{}, false
}

// Versions lists the versions of org with a window, the newest window first.
func (m *Monitor) Versions(org string) []string {
	st, ok := (*m.orgs.Load())[org]
	if !ok {
		return nil
	}
	var vs []string
	for _, r := range *st.rings.Load() {
		vs = append(vs, r.version)
	}
	return vs
}

// Orgs lists the orgs with windows, sorted.
func (m *Monitor) Orgs() []string {
	return slices.Sorted(maps.Keys(*m.orgs.Load()))
}

// Intervals returns the time buckets of org's version over the window and
// the history before it, oldest first, leaving out empty ones; ok is false
// when the monitor has no window for that version.
func (m *Monitor) Intervals(org, version string) ([]Interval, bool) {
	st, ok := (*m.orgs.Load())[org]
	if !ok {
		return nil, false
	}
	for _, r := range *st.rings.Load() {
		if r.version == version {
			return r.intervals(m.opts.Now()), true
		}
	}
	return nil, false
}

// SetWindow sets the window length of org and the history kept before it for
// Intervals (such as policy's degradedFor). Zero or negative values restore
// the defaults. A change discards the org's samples: the buckets change.
func (m *Monitor) SetWindow(org string, window, history time.Duration) {
	if window <= 0 {
		window = m.opts.Window
	}
	if history <= 0 {
		history = m.opts.History
	}
	st := m.state(org)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cfg == (config{window, history}) {
		return
	}
	st.cfg = config{window, history}
	st.lastUsed = map[*ring]int64{}
	st.rings.Store(&[]*ring{})
	st.current.Store(nil)
}

// Window returns the window length and history of org.
func (m *Monitor) Window(org string) (window, history time.Duration) {
	if st, ok := (*m.orgs.Load())[org]; ok {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.cfg.window, st.cfg.history
	}
	return m.opts.Window, m.opts.History
}

// Remove drops every window of org.
func (m *Monitor) Remove(org string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.orgs.Load()
	if _, ok := cur[org]; !ok {
		return
	}
	next := maps.Clone(cur)
	delete(next, org)
	m.orgs.Store(&next)
}

// state returns org's state, creating it on first use.
func (m *Monitor) state(org string) *orgState {
	if st, ok := (*m.orgs.Load())[org]; ok {
		return st
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.orgs.Load()
	if st, ok := cur[org]; ok {
		return st
	}
	st := &orgState{cfg: config{m.opts.Window, m.opts.History}, lastUsed: map[*ring]int64{}}
	st.rings.Store(&[]*ring{})
	next := maps.Clone(cur)
	next[org] = st
	m.orgs.Store(&next)
	return st
}

// ring returns the window of version, creating it (and evicting the least
// recently used one beyond MaxVersions) on first use.
func (st *orgState) ring(version string, buckets int) *ring {
	if r := st.current.Load(); r != nil && r.version == version {
		return r
	}
	for _, r := range *st.rings.Load() {
		if r.version == version {
			st.touch(r)
			return r
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	rings := *st.rings.Load()
	for _, r := range rings {
		if r.version == version {
			return r
		}
	}
	r := newRing(version, st.cfg, buckets)
	next := append([]*ring{r}, rings...)
	st.uses++
	st.lastUsed[r] = st.uses
	if len(next) > MaxVersions {
		cur := st.current.Load()
		victim := -1
		for i, c := range next {
			if c != r && c != cur && (victim < 0 || st.lastUsed[c] < st.lastUsed[next[victim]]) {
				victim = i
			}
		}
		delete(st.lastUsed, next[victim])
		next = slices.Delete(next, victim, victim+1)
	}
	st.rings.Store(&next)
	return r
}

// touch marks r used, for eviction; it runs only when a request or feedback
// names a version other than the current one, which is rare.
func (st *orgState) touch(r *ring) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.lastUsed[r]; ok {
		st.uses++
		st.lastUsed[r] = st.uses
	}
}
