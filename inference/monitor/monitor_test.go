package monitor

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// clock is an injected clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestLatencyBuckets(t *testing.T) {
	prev := -1
	for d := time.Duration(1); d < 2*time.Hour; d = d*21/20 + 1 {
		i := latIndex(d)
		if i < prev {
			t.Fatalf("latIndex(%v) = %d < latIndex of a smaller duration (%d)", d, i, prev)
		}
		prev = i
		lo, hi := latBounds(i)
		if d < 73*time.Minute && (float64(d) < lo-64 || float64(d) >= hi) {
			t.Fatalf("%v in bucket %d = [%v, %v)", d, i, time.Duration(lo), time.Duration(hi))
		}
		if mid := (lo + hi) / 2; d > time.Microsecond && d < 73*time.Minute && math.Abs(mid-float64(d))/float64(d) > 0.07 {
			t.Fatalf("%v reported as %v: more than 7%% off", d, time.Duration(mid))
		}
	}
	if got := latIndex(100 * time.Hour); got != latBuckets-1 {
		t.Errorf("latIndex(100h) = %d, want the last bucket %d", got, latBuckets-1)
	}
}

// event is one thing that happens to a monitor in a scenario.
type event struct {
	after    time.Duration // clock advance before the event
	version  string
	latency  time.Duration
	outcome  Outcome
	feedback [2]int // rows, correct; a feedback event when rows > 0
}

func req(after time.Duration, v string, lat time.Duration, o Outcome) event {
	return event{after: after, version: v, latency: lat, outcome: o}
}

func fb(after time.Duration, v string, rows, correct int) event {
	return event{after: after, version: v, feedback: [2]int{rows, correct}}
}

func TestWindowMath(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name   string
		events []event
		wait   time.Duration // clock advance after the events
		want   WindowStats   // Org, Version, counts and rates (percentiles checked apart)
		lat    []time.Duration
	}{
		{
			name:   "counts and rates",
			events: []event{req(0, "v1", 2*ms, OK), req(time.Second, "v1", 4*ms, OK), req(time.Second, "v1", 0, ServerError), req(0, "v1", 0, ClientError), fb(0, "v1", 4, 3)},
			want:   WindowStats{Samples: 3, Errors: 1, ClientErrors: 1, ErrorRate: 1.0 / 3, Feedback: 4, Correct: 3, Accuracy: 0.75},
			lat:    []time.Duration{2 * ms, 4 * ms},
		},
		{
			name:   "samples older than the window are gone",
			events: []event{req(0, "v1", time.Second, OK), req(0, "v1", 0, ServerError), fb(0, "v1", 1, 0), req(4*time.Minute, "v1", 3*ms, OK)},
			wait:   90 * time.Second,
			want:   WindowStats{Samples: 1},
			lat:    []time.Duration{3 * ms},
		},
		{
			name:   "everything expired",
			events: []event{req(0, "v1", ms, OK), fb(0, "v1", 2, 2)},
			wait:   6 * time.Minute,
			want:   WindowStats{},
		},
		{
			name:   "slot reused after a full turn holds only new samples",
			events: []event{req(0, "v1", ms, OK), req(0, "v1", ms, OK), req(DefaultWindow+DefaultHistory, "v1", 7*ms, OK)},
			want:   WindowStats{Samples: 1},
			lat:    []time.Duration{7 * ms},
		},
		{
			name: "p99 of many",
			events: func() []event {
				var ev []event
				for i := 1; i <= 1000; i++ {
					ev = append(ev, req(100*ms, "v1", time.Duration(i)*37*time.Microsecond, OK))
				}
				return ev
			}(),
			want: WindowStats{Samples: 1000},
			lat: func() []time.Duration {
				var l []time.Duration
				for i := 1; i <= 1000; i++ {
					l = append(l, time.Duration(i)*37*time.Microsecond)
				}
				return l
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			m := New(Options{Now: c.Now})
			for _, e := range tt.events {
				c.Advance(e.after)
				if e.feedback[0] > 0 {
					m.ObserveFeedback("acme", e.version, c.Now(), e.feedback[0], e.feedback[1])
				} else {
					m.ObserveRequest("acme", e.version, c.Now(), e.latency, e.outcome)
				}
			}
			c.Advance(tt.wait)
			got, ok := m.Snapshot("acme")
			if !ok {
				t.Fatal("Snapshot: no window")
			}
			want := tt.want
			want.Org, want.Version, want.Window, want.To = "acme", "v1", DefaultWindow, c.Now()
			if got.From.After(c.Now().Add(-DefaultWindow+DefaultWindow/DefaultBuckets)) || got.From.Before(c.Now().Add(-DefaultWindow)) {
				t.Errorf("From = %v, want within one bucket after %v", got.From, c.Now().Add(-DefaultWindow))
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(WindowStats{}, "From", "P50", "P99"), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			checkPercentile(t, "P50", got.P50, tt.lat, 0.50)
			checkPercentile(t, "P99", got.P99, tt.lat, 0.99)
		})
	}
}

// checkPercentile compares got with the exact q-quantile of lat (rank
// ceil(q·n)), allowing for the histogram's resolution.
func checkPercentile(t *testing.T, name string, got time.Duration, lat []time.Duration, q float64) {
	t.Helper()
	if len(lat) == 0 {
		if got != 0 {
			t.Errorf("%s = %v with no samples, want 0", name, got)
		}
		return
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	exact := s[int(math.Ceil(q*float64(len(s))))-1]
	if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.065 {
		t.Errorf("%s = %v, exact %v (%.1f%% off)", name, got, exact, rel*100)
	}
}

func TestVersions(t *testing.T) {
	c := newClock()
	m := New(Options{Now: c.Now})
	if _, ok := m.Snapshot("acme"); ok {
		t.Fatal("Snapshot of an unknown org succeeded")
	}
	m.ObserveRequest("acme", "v1", c.Now(), time.Millisecond, ServerError)
	m.ObserveRequest("acme", "v2", c.Now(), time.Millisecond, OK)
	m.ObserveFeedback("acme", "v1", c.Now(), 1, 1)
	cur, _ := m.Snapshot("acme")
	old, ok := m.SnapshotVersion("acme", "v1")
	if !ok || cur.Version != "v2" || cur.Errors != 0 || old.Errors != 1 || old.Feedback != 1 || cur.Feedback != 0 {
		t.Fatalf("current %+v, v1 %+v", cur, old)
	}
	for i := 3; i <= 6; i++ {
		m.ObserveRequest("acme", fmt.Sprintf("v%d", i), c.Now(), time.Millisecond, OK)
	}
	if diff := cmp.Diff([]string{"v6", "v5", "v4", "v3"}, m.Versions("acme")); diff != "" {
		t.Errorf("Versions after 6 versions (-want +got):\n%s", diff)
	}
	m.ObserveRequest("globex", "v1", c.Now(), time.Millisecond, OK)
	if diff := cmp.Diff([]string{"acme", "globex"}, m.Orgs()); diff != "" {
		t.Errorf("Orgs (-want +got):\n%s", diff)
	}
	m.Remove("acme")
	if _, ok := m.Snapshot("acme"); ok || len(m.Orgs()) != 1 {
		t.Errorf("acme still monitored after Remove: %v", m.Orgs())
	}
}

func TestSetWindow(t *testing.T) {
	c := newClock()
	m := New(Options{Now: c.Now})
	m.ObserveRequest("acme", "v1", c.Now(), time.Millisecond, OK)
	m.SetWindow("acme", time.Minute, 2*time.Minute)
	if _, ok := m.Snapshot("acme"); ok {
		t.Error("samples survived a window change")
	}
	m.ObserveRequest("acme", "v1", c.Now(), time.Millisecond, OK)
	c.Advance(45 * time.Second)
	m.ObserveRequest("acme", "v1", c.Now(), time.Millisecond, OK)
	st, _ := m.Snapshot("acme")
	if st.Window != time.Minute || st.Samples != 2 {
		t.Errorf("1m window after 45s: %+v", st)
	}
	c.Advance(30 * time.Second)
	if st, _ = m.Snapshot("acme"); st.Samples != 1 {
		t.Errorf("1m window after 75s holds %d samples, want 1", st.Samples)
	}
	if w, h := m.Window("acme"); w != time.Minute || h != 2*time.Minute {
		t.Errorf("Window = %v, %v", w, h)
	}
	m.SetWindow("acme", 0, 0)
	if w, h := m.Window("acme"); w != DefaultWindow || h != DefaultHistory {
		t.Errorf("Window after reset = %v, %v; want the defaults", w, h)
	}
}

// Intervals lists the non-empty buckets of the window and its history, each
// with its own counts, as policy's degradation decision takes them.
func TestIntervals(t *testing.T) {
	c := newClock()
	m := New(Options{Now: c.Now})
	m.SetWindow("acme", time.Minute, time.Minute) // 2s buckets, 2m kept
	c.Advance(500 * time.Millisecond)             // the buckets start at the clock's epoch
	var want []Interval
	for i := range 5 {
		// One bucket per 20s: i+1 successes of (i+1) ms, i errors, feedback 2/1.
		for range i + 1 {
			m.ObserveRequest("acme", "v1", c.Now(), time.Duration(i+1)*time.Millisecond, OK)
		}
		for range i {
			m.ObserveRequest("acme", "v1", c.Now(), 0, ServerError)
		}
		m.ObserveRequest("acme", "v1", c.Now(), 0, ClientError)
		m.ObserveFeedback("acme", "v1", c.Now(), 2, 1)
		end := c.Now().Truncate(2 * time.Second).Add(2 * time.Second)
		want = append(want, Interval{End: end, Samples: int64(2*i + 1), Errors: int64(i), ClientErrors: 1, Feedback: 2, Correct: 1,
			P99: time.Duration(i+1) * time.Millisecond})
		c.Advance(20 * time.Second)
	}
	c.Advance(35 * time.Second) // now 135.5s after the first bucket: it is gone, the second (20.5s) is kept
	got, ok := m.Intervals("acme", "v1")
	if !ok {
		t.Fatal("no intervals")
	}
	within := cmp.Comparer(func(a, b time.Duration) bool { return math.Abs(float64(a-b)) <= 0.065*float64(max(a, b)) })
	if diff := cmp.Diff(want[1:], got, within); diff != "" {
		t.Errorf("intervals (-want +got):\n%s", diff)
	}
	if _, ok := m.Intervals("acme", "v9"); ok {
		t.Error("intervals of an unknown version")
	}
}

// Concurrent writers lose no sample, also across bucket boundaries.
func TestConcurrentObserve(t *testing.T) {
	c := newClock()
	m := New(Options{Now: c.Now})
	const writers, each = 8, 5000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if w == 0 && i%500 == 0 {
					c.Advance(3 * time.Second)
				}
				o := OK
				if i%10 == 0 {
					o = ServerError
				}
				m.ObserveRequest("acme", "v1", c.Now(), time.Duration(i)*time.Microsecond, o)
				if i%4 == 0 {
					m.ObserveFeedback("acme", "v1", c.Now(), 1, i%8/4)
				}
			}
		}()
	}
	wg.Wait()
	st, _ := m.Snapshot("acme")
	want := WindowStats{Org: "acme", Version: "v1", Window: DefaultWindow, To: c.Now(),
		Samples: writers * each, Errors: writers * each / 10, ErrorRate: 0.1, Feedback: writers * each / 4, Correct: writers * each / 8, Accuracy: 0.5}
	if diff := cmp.Diff(want, st, cmpopts.IgnoreFields(WindowStats{}, "From", "P50", "P99"), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := New(Options{})
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest("acme", "v1", now, 120*time.Microsecond, OK)
		}
	})
}

func BenchmarkSnapshot(b *testing.B) {
	m := New(Options{})
	for i := range 10000 {
		m.ObserveRequest("acme", "v1", time.Now(), time.Duration(i)*time.Microsecond, OK)
	}
	for b.Loop() {
		m.Snapshot("acme")
	}
}
