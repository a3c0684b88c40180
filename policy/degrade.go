package policy

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Sample is one monitoring interval of a deployed model (such as one scrape).
type Sample struct {
	// At is the end of the interval.
	At time.Time
	// Requests and Errors count inferences in the interval.
	Requests, Errors int
	// P99Latency is the interval's 99th-percentile latency.
	P99Latency time.Duration
	// Labeled counts answers with feedback (a true label); Correct how many were right.
	Labeled, Correct int
}

// Health is the verdict of Degradation.
type Health int

const (
	// InsufficientData: fewer than minSamples requests in the window; nothing is judged.
	InsufficientData Health = iota
	// Stable: no check is breached, or not for degradedFor yet (Verdict.Pending).
	Stable
	// Degraded: a check has been breached continuously for at least degradedFor.
	Degraded
)

func (h Health) String() string {
	switch h {
	case Stable:
		return "Stable"
	case Degraded:
		return "Degraded"
	}
	return "InsufficientData"
}

// Verdict is Degradation's answer, with its evidence.
type Verdict struct {
	Health Health
	// Pending is true when Stable but breaching, for less than degradedFor so far.
	Pending bool
	// Since is when the current breach began (Degraded or Pending).
	Since time.Time
	// Requests is the number of requests in the window ending at now.
	Requests int
	// Checks are the window's checks at now, observed against limits.
	Checks []Check
}

// Degradation judges a deployed model from monitoring samples, like a Prometheus alert:
// at each evaluation point t (each sample's time, and now) the samples in (t-window, t]
// are aggregated — error rate = errors/requests, accuracy = correct/labeled, p99 latency
// = the request-weighted mean of the samples' p99s — and a point breaches when it has at
// least minSamples requests and a check fails (accuracy only counts with at least
// minSamples labeled answers). A value exactly at its limit passes; a zero limit is off.
// The model is Degraded when the points from Since to now all breach and now-Since is at
// least degradedFor; InsufficientData when the window at now has fewer than minSamples
// requests. Samples after now are ignored; the order of samples does not matter. Callers
// need to pass only the samples of (now - window - degradedFor, now] (and one interval more).
func Degradation(m Monitoring, samples []Sample, now time.Time) Verdict {
	ss := make([]Sample, 0, len(samples))
	for _, s := range samples {
		if !s.At.After(now) {
			ss = append(ss, s)
		}
	}
	sort.SliceStable(ss, func(i, j int) bool { return ss[i].At.Before(ss[j].At) })

	v := evaluate(m, ss, now)
	if v.Requests < max(m.MinSamples, 1) {
		v.Health = InsufficientData
		return v
	}
	v.Health = Stable
	if !breached(v.Checks) {
		return v
	}
	since := now
	for i := len(ss) - 1; i >= 0; i-- {
		t := ss[i].At
		if t.Equal(since) {
			continue
		}
		e := evaluate(m, ss, t)
		if e.Requests < max(m.MinSamples, 1) || !breached(e.Checks) {
			break
		}
		since = t
	}
	v.Since = since
	if now.Sub(since) >= m.DegradedFor {
		v.Health = Degraded
	} else {
		v.Pending = true
	}
	return v
}

func breached(cs []Check) bool {
	for _, c := range cs {
		if !c.Pass {
			return true
		}
	}
	return false
}

// evaluate aggregates the samples in (t-window, t] and checks them.
func evaluate(m Monitoring, ss []Sample, t time.Time) Verdict {
	from := t.Add(-m.Window)
	var req, errs, labeled, correct int
	var weighted float64
	lo := sort.Search(len(ss), func(i int) bool { return ss[i].At.After(from) })
	for _, s := range ss[lo:] {
		if s.At.After(t) {
			break
		}
		req += s.Requests
		errs += s.Errors
		labeled += s.Labeled
		correct += s.Correct
		weighted += float64(s.P99Latency) * float64(s.Requests)
	}
	v := Verdict{Requests: req}
	minSamples := max(m.MinSamples, 1)
	v.Checks = append(v.Checks, Check{Name: "samples", Pass: req >= minSamples,
		Observed: fmt.Sprintf("%d requests in %s", req, FormatDuration(m.Window)), Limit: ">= " + strconv.Itoa(minSamples)})
	if req < minSamples {
		return v
	}
	if m.MaxErrorRate > 0 {
		rate := float64(errs) / float64(req)
		v.Checks = append(v.Checks, Check{Name: "errorRate", Pass: rate <= m.MaxErrorRate,
			Observed: fmt.Sprintf("%.4g (%d of %d)", rate, errs, req), Limit: "<= " + strconv.FormatFloat(m.MaxErrorRate, 'g', -1, 64)})
	}
	if m.MaxP99Latency > 0 {
		p99 := time.Duration(weighted / float64(req))
		v.Checks = append(v.Checks, Check{Name: "p99Latency", Pass: p99 <= m.MaxP99Latency,
			Observed: p99.String(), Limit: "<= " + m.MaxP99Latency.String()})
	}
	if m.MinAccuracy > 0 && labeled >= minSamples {
		acc := float64(correct) / float64(labeled)
		v.Checks = append(v.Checks, Check{Name: "accuracy", Pass: acc >= m.MinAccuracy,
			Observed: fmt.Sprintf("%.4g (%d of %d labeled)", acc, correct, labeled), Limit: ">= " + strconv.FormatFloat(m.MinAccuracy, 'g', -1, 64)})
	}
	return v
}
