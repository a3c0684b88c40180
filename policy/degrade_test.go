package policy

import (
	"testing"
	"time"
)

func TestDegradation(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	m := Monitoring{MaxErrorRate: 0.05, MaxP99Latency: 100 * time.Millisecond, MinAccuracy: 0.8,
		Window: 5 * time.Minute, MinSamples: 100, DegradedFor: 3 * time.Minute}
	// series makes one sample a minute for the last n minutes, ending at now; f shapes
	// the sample i minutes ago.
	series := func(n int, f func(ago int, s *Sample)) []Sample {
		var ss []Sample
		for ago := n - 1; ago >= 0; ago-- {
			s := Sample{At: now.Add(-time.Duration(ago) * time.Minute), Requests: 100, P99Latency: 20 * time.Millisecond}
			f(ago, &s)
			ss = append(ss, s)
		}
		return ss
	}
	oneMinute := m
	oneMinute.Window = time.Minute // each point sees its own sample only
	healthy := func(int, *Sample) {}
	erroring := func(from int) func(int, *Sample) {
		return func(ago int, s *Sample) {
			if ago <= from {
				s.Errors = 50
			}
		}
	}
	tests := []struct {
		name    string
		m       Monitoring
		samples []Sample
		health  Health
		pending bool
		since   time.Time
		failed  string // name of the failed check at now, if any
	}{
		{"no samples", m, nil, InsufficientData, false, time.Time{}, "samples"},
		{"fewer than minSamples in the window", m, series(10, func(_ int, s *Sample) { s.Requests = 10 }), InsufficientData, false, time.Time{}, "samples"},
		{"old samples outside the window do not count", m, series(20, func(ago int, s *Sample) {
			if ago < 5 {
				s.Requests = 0
			}
		}), InsufficientData, false, time.Time{}, "samples"},
		{"healthy", m, series(10, healthy), Stable, false, time.Time{}, ""},
		{"error rate exactly at the limit is fine", m, series(10, func(_ int, s *Sample) { s.Errors = 5 }), Stable, false, time.Time{}, ""},
		{"breach for 2 minutes: pending", m, series(10, func(ago int, s *Sample) {
			if ago <= 2 {
				s.Errors = 100
			}
		}), Stable, true, now.Add(-2 * time.Minute), "errorRate"}, // the window sees errors from 11:58
		{"breach for degradedFor: degraded", m, series(10, erroring(4)), Degraded, false, now.Add(-4 * time.Minute), "errorRate"},
		{"a healthy point in between restarts the clock", oneMinute, series(10, func(ago int, s *Sample) {
			if ago <= 8 && ago != 3 {
				s.Errors = 50
			}
		}), Stable, true, now.Add(-2 * time.Minute), "errorRate"},
		{"latency", m, series(10, func(_ int, s *Sample) { s.P99Latency = 150 * time.Millisecond }), Degraded, false, now.Add(-9 * time.Minute), "p99Latency"},
		{"accuracy needs minSamples labeled answers", m, series(10, func(_ int, s *Sample) { s.Labeled, s.Correct = 10, 1 }), Stable, false, time.Time{}, ""},
		{"accuracy below the limit", m, series(10, func(_ int, s *Sample) { s.Labeled, s.Correct = 50, 30 }), Degraded, false, now.Add(-8 * time.Minute), "accuracy"}, // 100 labeled from 11:52
		{"degradedFor 0: the first breach degrades", Monitoring{MaxErrorRate: 0.05, Window: time.Minute, MinSamples: 1}, series(3, erroring(0)), Degraded, false, now, "errorRate"},
		{"thresholds off", Monitoring{Window: 5 * time.Minute, MinSamples: 1, DegradedFor: time.Minute}, series(10, func(_ int, s *Sample) { s.Errors = 100 }), Stable, false, time.Time{}, ""},
		{"samples after now are ignored", m, append(series(10, healthy), Sample{At: now.Add(time.Minute), Requests: 1000, Errors: 1000}), Stable, false, time.Time{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Order must not matter: feed the samples reversed.
			rev := make([]Sample, len(tc.samples))
			for i, s := range tc.samples {
				rev[len(rev)-1-i] = s
			}
			v := Degradation(tc.m, rev, now)
			if v.Health != tc.health || v.Pending != tc.pending || !v.Since.Equal(tc.since) {
				t.Errorf("health %v pending %v since %v; want %v %v %v (checks %v)", v.Health, v.Pending, v.Since, tc.health, tc.pending, tc.since, v.Checks)
			}
			var failed string
			for _, c := range v.Checks {
				if !c.Pass {
					failed = c.Name
				}
			}
			if failed != tc.failed {
				t.Errorf("failed check %q, want %q: %v", failed, tc.failed, v.Checks)
			}
		})
	}
}

func TestDegradationEvidence(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	m := Monitoring{MaxErrorRate: 0.05, MaxP99Latency: time.Second, Window: 2 * time.Minute, MinSamples: 10}
	v := Degradation(m, []Sample{
		{At: now.Add(-time.Minute), Requests: 100, Errors: 20, P99Latency: 10 * time.Millisecond},
		{At: now, Requests: 300, Errors: 0, P99Latency: 30 * time.Millisecond},
	}, now)
	want := map[string]string{
		"samples":    "400 requests in 2m",
		"errorRate":  "0.05 (20 of 400)",
		"p99Latency": "25ms",
	}
	if v.Requests != 400 || len(v.Checks) != len(want) {
		t.Fatalf("requests %d checks %v", v.Requests, v.Checks)
	}
	for _, c := range v.Checks {
		if want[c.Name] != c.Observed || !c.Pass {
			t.Errorf("check %s observed %q pass %v, want %q passing", c.Name, c.Observed, c.Pass, want[c.Name])
		}
	}
}
