// Package pipelog writes each org's pipeline log: one JSON line per stage of every
// reconcile run (resolve, verify, pull, validate, deploy, swap, record) and one summary line
// per run, in <data>/pipeline/<org>/logs/<YYYY-MM-DD>.jsonl (UTC dates, one file per day).
//
// A line is written with one write(2) on a file opened O_APPEND, under the org's lock, as
// soon as its stage is done, so concurrent runs never interleave bytes within a line and Tail
// shows a run in progress. End fsyncs the file (and its directory when the file is new), so a
// machine crash loses at most the runs that had not ended; a process crash loses nothing
// written. Files are 0600, directories 0700. A torn last line (a crash mid-write, a full
// disk) is closed with a newline before the next append and skipped by Tail.
//
// Lines look like (fields with empty values are omitted):
//
//	{"time":"2026-03-02T10:15:19.2Z","org":"acme","run":"20260302T101518Z-4f1a9c","commit":"3f2a1c…",
//	 "stage":"pull","result":"ok","start":"2026-03-02T10:15:18.9Z","durationMs":312.5,
//	 "attrs":{"digest":"sha256:…","bytes":315}}
//
// The summary line has stage "run", the run's start and duration, its result and error.
package pipelog

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Results of a stage or run.
const (
	OK      = "ok"
	Error   = "error"
	Skipped = "skipped"
)

// The reconciler's stages, in order, and the summary line's stage name.
const (
	Resolve  = "resolve"
	Verify   = "verify"
	Pull     = "pull"
	Validate = "validate"
	Deploy   = "deploy"
	Swap     = "swap"
	Record   = "record"
	RunStage = "run"
)

// Bounds on what one line holds.
const (
	maxError     = 8 << 10
	maxAttrValue = 1 << 10
	maxLine      = 1 << 20 // Tail skips longer lines
)

// Line is one line of a pipeline log.
type Line struct {
	// Time is when the line was written.
	Time   time.Time `json:"time"`
	Org    string    `json:"org"`
	Run    string    `json:"run"`
	Commit string    `json:"commit,omitempty"`
	// Stage is a stage name, or RunStage for the run's summary line.
	Stage string `json:"stage"`
	// Result is OK, Error or Skipped.
	Result   string         `json:"result"`
	Start    time.Time      `json:"start"`
	Duration time.Duration  `json:"-"`
	Error    string         `json:"error,omitempty"`
	Attrs    map[string]any `json:"attrs,omitempty"`
}

type lineJSON struct {
	lineAlias
	DurationMS float64 `json:"durationMs"`
}

type lineAlias Line

// MarshalJSON writes Duration as durationMs (milliseconds, microsecond precision).
func (l Line) MarshalJSON() ([]byte, error) {
	return json.Marshal(lineJSON{lineAlias(l), float64(l.Duration.Microseconds()) / 1000})
}

// UnmarshalJSON reads durationMs back into Duration.
func (l *Line) UnmarshalJSON(b []byte) error {
	var j lineJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*l = Line(j.lineAlias)
	l.Duration = time.Duration(j.DurationMS * float64(time.Millisecond))
	return nil
}

// Log is the pipeline log of every org under one data directory. Its methods are safe
// for concurrent use.
type Log struct {
	root string // <data>/pipeline
	now  func() time.Time

	mu    sync.Mutex
	files map[string]*orgFile
}

// Option configures a Log.
type Option func(*Log)

// WithClock sets the clock for line times, run ids, rotation and Prune. The default is
// time.Now.
func WithClock(now func() time.Time) Option { return func(l *Log) { l.now = now } }

// Open returns the pipeline log under dataDir, creating <dataDir>/pipeline (0700).
func Open(dataDir string, opts ...Option) (*Log, error) {
	root, err := filepath.Abs(filepath.Join(dataDir, "pipeline"))
	if err != nil {
		return nil, fmt.Errorf("pipelog: %w", err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("pipelog: %w", err)
	}
	l := &Log{root: root, now: time.Now, files: map[string]*orgFile{}}
	for _, o := range opts {
		o(l)
	}
	return l, nil
}

// Dir returns the directory of org's log files.
func (l *Log) Dir(org string) string { return filepath.Join(l.root, org, "logs") }

// fileName is the log file of the UTC day of t.
func fileName(t time.Time) string { return t.UTC().Format(time.DateOnly) + ".jsonl" }

// acquire returns org's writer, shared by the org's runs in progress.
func (l *Log) acquire(org string) *orgFile {
	l.mu.Lock()
	defer l.mu.Unlock()
	of := l.files[org]
	if of == nil {
		of = &orgFile{dir: l.Dir(org)}
		l.files[org] = of
	}
	of.refs++
	return of
}

// release syncs org's file and closes it when no run of org is in progress.
func (l *Log) release(org string, of *orgFile) error {
	err := of.sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	if of.refs--; of.refs == 0 {
		delete(l.files, org)
		if cerr := of.close(); err == nil {
			err = cerr
		}
	}
	return err
}
