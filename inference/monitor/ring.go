package monitor

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Latency histogram layout: durations are counted in units of 64 ns; values
// below 16 units get a bucket each, then every octave is split into 8
// sub-buckets (3 mantissa bits), up to 2^36 units (about 73 minutes), beyond
// which everything lands in the last bucket. A bucket is at most 12.5% wide, so
// a percentile reported as its bucket's midpoint is within about ±6.5%.
const (
	unitShift  = 6
	subBits    = 3
	linear     = 1 << (subBits + 1) // 16 linear buckets
	maxExp     = 36
	latBuckets = linear + (maxExp-subBits)*(1<<subBits)
)

// latIndex returns the histogram bucket of d.
func latIndex(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	v := uint64(d) >> unitShift
	if v < linear {
		return int(v)
	}
	exp := bits.Len64(v) - 1 // ≥ subBits+1
	if exp > maxExp {
		return latBuckets - 1
	}
	sub := int(v>>(exp-subBits)) & (1<<subBits - 1)
	return linear + (exp-subBits-1)*(1<<subBits) + sub
}

// latBounds returns the [lo, hi) range of bucket i in nanoseconds.
func latBounds(i int) (lo, hi float64) {
	if i < linear {
		return float64(uint64(i) << unitShift), float64(uint64(i+1) << unitShift)
	}
	i -= linear
	exp := i>>subBits + subBits + 1
	sub := uint64(i & (1<<subBits - 1))
	base := uint64(1)<<exp | sub<<(exp-subBits)
	return float64(base << unitShift), float64((base + 1<<(exp-subBits)) << unitShift)
}

// slot counts what happened during one time bucket of a window.
type slot struct {
	epoch    atomic.Int64 // the bucket's start / width; math.MinInt64 when unused
	ok       atomic.Int64
	errors   atomic.Int64
	clientEr atomic.Int64
	feedback atomic.Int64
	correct  atomic.Int64
	lat      [latBuckets]atomic.Uint32
}

// ring is the rolling window of one org's version: len(slots) time buckets of
// width each, reused round-robin; the last n make up the window, the ones
// before it are history for Intervals. Writers take no lock unless they are
// the first to enter a new time bucket.
type ring struct {
	version string
	width   int64 // bucket width in nanoseconds
	n       int64 // buckets in the window
	slots   []slot
	rotate  sync.Mutex
}

func newRing(version string, w config, buckets int) *ring {
	r := &ring{version: version, width: max(1, int64(w.window)/int64(buckets)), n: int64(buckets)}
	extra := (int64(w.history) + r.width - 1) / r.width
	r.slots = make([]slot, r.n+extra)
	for i := range r.slots {
		r.slots[i].epoch.Store(math.MinInt64)
	}
	return r
}

// at returns the slot of time now, clearing it first if it last held an older
// time bucket. Clearing happens before the new epoch is published, so a writer
// that sees the epoch adds to the cleared counters.
func (r *ring) at(now time.Time) *slot {
	e := now.UnixNano() / r.width
	s := &r.slots[int(uint64(e)%uint64(len(r.slots)))]
	if s.epoch.Load() == e {
		return s
	}
	r.rotate.Lock()
	defer r.rotate.Unlock()
	if cur := s.epoch.Load(); cur == e {
		return s
	} else if cur > e {
		return nil // a sample older than the window's reuse of this slot: drop it
	}
	s.ok.Store(0)
	s.errors.Store(0)
	s.clientEr.Store(0)
	s.feedback.Store(0)
	s.correct.Store(0)
	for i := range s.lat {
		s.lat[i].Store(0)
	}
	s.epoch.Store(e)
	return s
}

func (r *ring) observe(now time.Time, latency time.Duration, o Outcome) {
	s := r.at(now)
	if s == nil {
		return
	}
	switch o {
	case OK:
		s.ok.Add(1)
		s.lat[latIndex(latency)].Add(1)
	case ServerError:
		s.errors.Add(1)
	case ClientError:
		s.clientEr.Add(1)
	}
}

func (r *ring) feedback(now time.Time, rows, correct int) {
	if s := r.at(now); s != nil {
		s.feedback.Add(int64(rows))
		s.correct.Add(int64(correct))
	}
}

// stats sums the slots of the window ending at now.
func (r *ring) stats(org string, now time.Time) WindowStats {
	n := r.n
	eNow := now.UnixNano() / r.width
	st := WindowStats{
		Org: org, Version: r.version, Window: time.Duration(r.width * n),
		From: time.Unix(0, (eNow-n+1)*r.width).UTC(), To: now.UTC(),
	}
	var hist [latBuckets]uint64
	var ok int64
	for i := range r.slots {
		s := &r.slots[i]
		if e := s.epoch.Load(); e <= eNow-n || e > eNow {
			continue
		}
		ok += s.ok.Load()
		st.Errors += s.errors.Load()
		st.ClientErrors += s.clientEr.Load()
		st.Feedback += s.feedback.Load()
		st.Correct += s.correct.Load()
		for j := range s.lat {
			hist[j] += uint64(s.lat[j].Load())
		}
	}
	st.Samples = ok + st.Errors
	if st.Samples > 0 {
		st.ErrorRate = float64(st.Errors) / float64(st.Samples)
	}
	if st.Feedback > 0 {
		st.Accuracy = float64(st.Correct) / float64(st.Feedback)
	}
	st.P50 = quantile(&hist, ok, 0.50)
	st.P99 = quantile(&hist, ok, 0.99)
	return st
}

// intervals returns the buckets of the kept history ending at now that saw
// anything, oldest first.
func (r *ring) intervals(now time.Time) []Interval {
	eNow := now.UnixNano() / r.width
	type item struct {
		e int64
		s *slot
	}
	var items []item
	for i := range r.slots {
		s := &r.slots[i]
		if e := s.epoch.Load(); e > eNow-int64(len(r.slots)) && e <= eNow {
			items = append(items, item{e, s})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.e, b.e) })
	out := make([]Interval, 0, len(items))
	for _, it := range items {
		s := it.s
		end := time.Unix(0, (it.e+1)*r.width).UTC()
		if it.e == eNow {
			end = now.UTC()
		}
		var hist [latBuckets]uint64
		for j := range s.lat {
			hist[j] = uint64(s.lat[j].Load())
		}
		ok := s.ok.Load()
		iv := Interval{End: end, Errors: s.errors.Load(), ClientErrors: s.clientEr.Load(), Feedback: s.feedback.Load(), Correct: s.correct.Load()}
		iv.Samples = ok + iv.Errors
		iv.P99 = quantile(&hist, ok, 0.99)
		out = append(out, iv)
	}
	return out
}

// quantile returns the midpoint of the bucket holding the q-quantile (the
// sample of rank ceil(q·n)) of the n samples in hist; 0 when n is 0.
func quantile(hist *[latBuckets]uint64, n int64, q float64) time.Duration {
	if n <= 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range hist {
		seen += c
		if seen >= rank {
			lo, hi := latBounds(i)
			return time.Duration((lo + hi) / 2)
		}
	}
	return 0
}
