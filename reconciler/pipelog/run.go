package pipelog

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/eaglenotifier/talon/policy"
)

// Run is one reconcile of one org. A nil *Run (from a failed Start) accepts every call and
// writes nothing, so a broken log never stops a reconcile.
type Run struct {
	l      *Log
	of     *orgFile
	org    string
	commit string
	id     string
	start  time.Time

	mu    sync.Mutex
	open  []*Stage
	err   error // the first write error
	ended bool
}

// Stage is one step of a run.
type Stage struct {
	r     *Run
	name  string
	start time.Time
	done  bool
}

// Start begins a run for org at the config commit. It fails only for an invalid org name.
func (l *Log) Start(org, commit string) (*Run, error) {
	if err := policy.ValidateOrgName(org); err != nil {
		return nil, fmt.Errorf("pipelog: %w", err)
	}
	now := l.now()
	var rnd [3]byte
	rand.Read(rnd[:])
	id := now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(rnd[:])
	return &Run{l: l, of: l.acquire(org), org: org, commit: commit, id: id, start: now}, nil
}

// ID returns the run id: its UTC start second and 6 random hex digits.
func (r *Run) ID() string {
	if r == nil {
		return ""
	}
	return r.id
}

// Stage starts the named stage now.
func (r *Run) Stage(name string) *Stage {
	if r == nil {
		return nil
	}
	s := &Stage{r: r, name: name, start: r.l.now()}
	r.mu.Lock()
	r.open = append(r.open, s)
	r.mu.Unlock()
	return s
}

// Done ends the stage, OK when err is nil and Error otherwise, and writes its line with
// attrs (digest, version, bytes, …). Calls after the first are ignored.
func (s *Stage) Done(err error, attrs ...slog.Attr) {
	result, msg := OK, ""
	if err != nil {
		result, msg = Error, err.Error()
	}
	s.finish(result, msg, attrs)
}

// Skip ends the stage as Skipped with reason (e.g. "in store") in its error field.
func (s *Stage) Skip(reason string, attrs ...slog.Attr) {
	s.finish(Skipped, reason, attrs)
}

func (s *Stage) finish(result, msg string, attrs []slog.Attr) {
	if s == nil {
		return
	}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.done || r.ended {
		return
	}
	s.done = true
	for i, o := range r.open {
		if o == s {
			r.open = append(r.open[:i], r.open[i+1:]...)
			break
		}
	}
	r.writeLocked(s.name, result, s.start, msg, attrs)
}

// End writes the run's summary line (Error when err is not nil, else OK), first closing any
// stage left open as Error, then fsyncs the org's log. It returns the first error writing
// any of the run's lines; a pipeline log error should be reported, never fail a reconcile.
// Calls after the first return nil.
func (r *Run) End(err error, attrs ...slog.Attr) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return nil
	}
	for _, s := range r.open {
		s.done = true
		r.writeLocked(s.name, Error, s.start, "unfinished: the run ended before this stage did", nil)
	}
	r.open = nil
	result, msg := OK, ""
	if err != nil {
		result, msg = Error, err.Error()
	}
	r.writeLocked(RunStage, result, r.start, msg, attrs)
	r.ended = true
	werr := r.err
	r.mu.Unlock()
	if err := r.l.release(r.org, r.of); werr == nil {
		werr = err
	}
	return werr
}

// writeLocked appends one line; r.mu is held.
func (r *Run) writeLocked(stage, result string, start time.Time, msg string, attrs []slog.Attr) {
	now := r.l.now()
	ln := Line{
		Time: now.UTC(), Org: r.org, Run: r.id, Commit: r.commit, Stage: stage, Result: result,
		Start: start.UTC(), Duration: now.Sub(start), Error: truncate(msg, maxError), Attrs: attrMap(attrs),
	}
	b, err := json.Marshal(ln)
	if err == nil {
		err = r.of.append(fileName(now), append(b, '\n'))
	}
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("pipelog: %s run %s stage %s: %w", r.org, r.id, stage, err)
	}
}

// attrMap turns attrs into JSON-ready values, bounding strings.
func attrMap(attrs []slog.Attr) map[string]any {
	if len(attrs) == 0 {
		return nil
	}
	m := make(map[string]any, len(attrs))
	for _, a := range attrs {
		v := a.Value.Resolve()
		switch v.Kind() {
		case slog.KindString:
			m[a.Key] = truncate(v.String(), maxAttrValue)
		case slog.KindDuration:
			m[a.Key] = v.Duration().String()
		case slog.KindTime:
			m[a.Key] = v.Time().UTC()
		case slog.KindGroup:
			m[a.Key] = attrMap(v.Group())
		case slog.KindAny:
			if _, err := json.Marshal(v.Any()); err != nil {
				m[a.Key] = truncate(fmt.Sprint(v.Any()), maxAttrValue)
			} else {
				m[a.Key] = v.Any()
			}
		default:
			m[a.Key] = v.Any()
		}
	}
	return m
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
