package policy

import (
	"fmt"
	"time"
)

// maxWindowSteps bounds the schedule activations WindowAt walks (a per-minute schedule
// with a long duration is always open; it need not be walked forever).
const maxWindowSteps = 10000

// WindowState says whether deployments may happen now.
type WindowState struct {
	// Open is true when deployments may happen now.
	Open bool
	// Always is true when the org has no window (Open is then always true).
	Always bool
	// OpenedAt and ClosesAt bound the current window when Open (zero when Always).
	// Overlapping windows merge into one.
	OpenedAt, ClosesAt time.Time
	// NextOpen is when the window opens next, when closed; zero when the schedule never
	// fires again.
	NextOpen time.Time
}

// WindowAt decides whether the deployment window w is open at now. The window opens at
// each activation of w.Schedule, read in w.Timezone, and stays open for w.Duration of
// elapsed time: from 22:00 for 6h closes at 04:00, or at 03:00/05:00 wall time across a
// daylight-saving change. An activation exactly at now opens the window; the window is
// closed again at exactly opening + duration. Across daylight-saving changes robfig/cron's
// rules apply: an opening at a wall time that does not exist (02:30 on a spring-forward
// day in Europe/Berlin) is skipped that day, and one at a wall time that happens twice
// (02:30 on a fall-back day) opens the window twice; choose opening times outside the
// changeover hour to avoid both. Rollbacks ignore the window; that is the caller's
// business. An empty Schedule is always open.
func WindowAt(w Window, now time.Time) (WindowState, error) {
	if w.Schedule == "" {
		return WindowState{Open: true, Always: true}, nil
	}
	sch, err := w.Schedule.Parse()
	if err != nil {
		return WindowState{}, err
	}
	if w.Duration <= 0 {
		return WindowState{}, fmt.Errorf("window %q has no duration", w.Schedule)
	}
	tz := w.Timezone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return WindowState{}, fmt.Errorf("window timezone %q: %w", tz, err)
	}
	now = now.In(loc)
	// The last activation in (now-duration, now], if any, opened the current window
	// (robfig's Next is strictly after its argument).
	var last time.Time
	t := sch.Next(now.Add(-w.Duration))
	for i := 0; i < maxWindowSteps && !t.IsZero() && !t.After(now); i++ {
		last, t = t, sch.Next(t)
	}
	if last.IsZero() {
		return WindowState{NextOpen: t}, nil
	}
	st := WindowState{Open: true, ClosesAt: last.Add(w.Duration)}
	// Later activations inside the window extend it.
	for i := 0; i < maxWindowSteps && !t.IsZero() && t.Before(st.ClosesAt); i++ {
		st.ClosesAt, t = t.Add(w.Duration), sch.Next(t)
	}
	// The window opened at the earliest activation of the chain that reaches now.
	st.OpenedAt = last
	for i := 0; i < maxWindowSteps; i++ {
		prev := sch.Next(st.OpenedAt.Add(-w.Duration))
		if prev.IsZero() || !prev.Before(st.OpenedAt) {
			break
		}
		st.OpenedAt = prev
	}
	return st, nil
}
