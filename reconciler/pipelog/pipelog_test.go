package pipelog_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/eaglenotifier/talon/reconciler/pipelog"
)

// clock is a test clock that advances by step on every reading.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

const commit = "3f2a1c9d0b7e4a5f8c6d2e1b0a9f8e7d6c5b4a39"

var t0 = time.Date(2026, 3, 2, 10, 15, 18, 0, time.UTC)

func TestRunLines(t *testing.T) {
	data := t.TempDir()
	c := &clock{t: t0, step: 100 * time.Millisecond}
	l, err := pipelog.Open(data, pipelog.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	run, err := l.Start("acme", commit) // t0
	if err != nil {
		t.Fatal(err)
	}
	const digest = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	st := run.Stage(pipelog.Resolve)                                                           // +100ms
	st.Done(nil, slog.String("digest", digest), slog.String("version", "v1.4.2"))              // +200ms
	run.Stage(pipelog.Verify).Skip("signature verification not configured")                    // +300, +400
	run.Stage(pipelog.Pull).Done(nil, slog.Int64("bytes", 315), slog.Bool("fromStore", false)) // +500, +600
	st = run.Stage(pipelog.Validate)                                                           // +700
	st.Done(errors.New("accuracy 0.81 below the gate 0.90"))                                   // +800
	st.Done(nil)                                                                               // ignored
	run.Stage(pipelog.Deploy)                                                                  // +900, never done
	if err := run.End(errors.New("validation gate failed")); err != nil {                      // +1000 unfinished, +1100 run
		t.Fatal(err)
	}
	if err := run.End(nil); err != nil {
		t.Fatal(err)
	}
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	line := func(stage, result string, start, end int, msg string, attrs map[string]any) pipelog.Line {
		return pipelog.Line{Time: ms(end), Org: "acme", Run: run.ID(), Commit: commit, Stage: stage, Result: result,
			Start: ms(start), Duration: time.Duration(end-start) * time.Millisecond, Error: msg, Attrs: attrs}
	}
	want := []pipelog.Line{
		line("resolve", "ok", 100, 200, "", map[string]any{"digest": digest, "version": "v1.4.2"}),
		line("verify", "skipped", 300, 400, "signature verification not configured", nil),
		line("pull", "ok", 500, 600, "", map[string]any{"bytes": 315.0, "fromStore": false}),
		line("validate", "error", 700, 800, "accuracy 0.81 below the gate 0.90", nil),
		line("deploy", "error", 900, 1000, "unfinished: the run ended before this stage did", nil),
		line("run", "error", 0, 1100, "validation gate failed", nil),
	}
	got, err := l.Tail("acme", 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(run.ID(), "20260302T101518Z-") || len(run.ID()) != len("20260302T101518Z-")+6 {
		t.Errorf("run id %q", run.ID())
	}

	// Layout and modes.
	file := filepath.Join(data, "pipeline", "acme", "logs", "2026-03-02.jsonl")
	for path, mode := range map[string]os.FileMode{file: 0o600, filepath.Dir(file): 0o700 | os.ModeDir} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %s, want %s", path, fi.Mode(), mode)
		}
	}
	// The raw line format other tools read.
	b, _ := os.ReadFile(file)
	first := strings.SplitN(string(b), "\n", 2)[0]
	var raw map[string]any
	if err := json.Unmarshal([]byte(first), &raw); err != nil {
		t.Fatal(err)
	}
	if raw["durationMs"] != 100.0 || raw["stage"] != "resolve" || raw["start"] != "2026-03-02T10:15:18.1Z" {
		t.Errorf("first line %s", first)
	}
}

func TestTail(t *testing.T) {
	c := &clock{t: t0, step: time.Second}
	l, _ := pipelog.Open(t.TempDir(), pipelog.WithClock(c.now))
	for i := range 5 {
		run, _ := l.Start("globex", fmt.Sprintf("c%d", i))
		run.Stage(pipelog.Resolve).Done(nil)
		run.End(nil)
	}
	tests := []struct {
		n    int
		want []string // commit/stage of each line
	}{
		{0, nil},
		{-1, nil},
		{3, []string{"c3/run", "c4/resolve", "c4/run"}},
		{100, []string{"c0/resolve", "c0/run", "c1/resolve", "c1/run", "c2/resolve", "c2/run", "c3/resolve", "c3/run", "c4/resolve", "c4/run"}},
	}
	for _, tt := range tests {
		got, err := l.Tail("globex", tt.n)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ln := range got {
			ids = append(ids, ln.Commit+"/"+ln.Stage)
		}
		if diff := cmp.Diff(tt.want, ids); diff != "" {
			t.Errorf("Tail(%d) (-want +got):\n%s", tt.n, diff)
		}
	}
	if got, err := l.Tail("initech", 10); err != nil || len(got) != 0 {
		t.Errorf("Tail of an org without a log: %v, %v", got, err)
	}
	for _, bad := range []string{"../globex", "Globex", ""} {
		if _, err := l.Tail(bad, 10); err == nil {
			t.Errorf("Tail(%q) accepted it", bad)
		}
		if _, err := l.Start(bad, "c"); err == nil {
			t.Errorf("Start(%q) accepted it", bad)
		}
	}
}

// TestRotation: a run crossing midnight (UTC) continues in the next day's file, and Tail
// reads back across files.
func TestRotation(t *testing.T) {
	data := t.TempDir()
	c := &clock{t: time.Date(2026, 3, 2, 23, 59, 59, 0, time.UTC), step: 400 * time.Millisecond}
	l, _ := pipelog.Open(data, pipelog.WithClock(c.now))
	run, _ := l.Start("acme", commit)
	for _, s := range []string{pipelog.Resolve, pipelog.Pull, pipelog.Deploy} {
		run.Stage(s).Done(nil)
	}
	if err := run.End(nil); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(data, "pipeline", "acme", "logs")
	count := func(day string) int {
		b, err := os.ReadFile(filepath.Join(logs, day+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\n")
	}
	// resolve is done at 23:59:59.8, the rest after midnight.
	if a, b := count("2026-03-02"), count("2026-03-03"); a != 1 || b != 3 {
		t.Errorf("lines per day: %d and %d, want 1 and 3", a, b)
	}
	got, _ := l.Tail("acme", 10)
	var stages []string
	for _, ln := range got {
		stages = append(stages, ln.Stage)
	}
	if diff := cmp.Diff([]string{"resolve", "pull", "deploy", "run"}, stages); diff != "" {
		t.Errorf("Tail across days (-want +got):\n%s", diff)
	}
}

func TestPrune(t *testing.T) {
	data := t.TempDir()
	c := &clock{}
	l, _ := pipelog.Open(data, pipelog.WithClock(c.now))
	for _, day := range []int{1, 2, 3, 4, 5} {
		for _, org := range []string{"acme", "globex"} {
			c.set(time.Date(2026, 3, day, 12, 0, 0, 0, time.UTC))
			run, _ := l.Start(org, commit)
			run.End(nil)
		}
	}
	// Not logs: left alone.
	os.WriteFile(filepath.Join(data, "pipeline", "acme", "logs", "notes.txt"), []byte("x"), 0o600)
	os.MkdirAll(filepath.Join(data, "pipeline", "Not_An_Org", "logs"), 0o700)
	os.WriteFile(filepath.Join(data, "pipeline", "Not_An_Org", "logs", "2026-03-01.jsonl"), nil, 0o600)

	c.set(time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC))
	removed, err := l.Prune(48 * time.Hour) // keeps days that ended after Mar 3 12:00: Mar 3, 4, 5
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"acme/logs/2026-03-01.jsonl", "acme/logs/2026-03-02.jsonl", "globex/logs/2026-03-01.jsonl", "globex/logs/2026-03-02.jsonl"}
	if diff := cmp.Diff(want, removed, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	left, _ := filepath.Glob(filepath.Join(data, "pipeline", "*", "logs", "*"))
	if len(left) != 8 { // 3 days × 2 orgs, notes.txt, Not_An_Org's file
		t.Errorf("left %v", left)
	}
	if removed, _ := l.Prune(0); len(removed) != 4 { // all but today's, Mar 5
		t.Errorf("Prune(0) removed %v", removed)
	}
}

// TestTornLine: a line cut short by a crash is closed off before the next append and
// skipped by Tail.
func TestTornLine(t *testing.T) {
	data := t.TempDir()
	l, _ := pipelog.Open(data)
	run, _ := l.Start("acme", "c1")
	run.End(nil)
	files, _ := filepath.Glob(filepath.Join(data, "pipeline", "acme", "logs", "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	f, _ := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-03-02T10:15:18Z","org":"acme","run":"x","sta`) // no newline
	f.Close()
	run, _ = l.Start("acme", "c2")
	run.End(nil)
	got, err := l.Tail("acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Commit != "c1" || got[1].Commit != "c2" {
		t.Errorf("lines %+v", got)
	}
	torn := `{"time":"2026-03-02T10:15:18Z","org":"acme","run":"x","sta`
	checkEveryLine(t, files[0], 3, func(s string) bool { return s == torn || json.Valid([]byte(s)) })
}

// checkEveryLine asserts path has want lines, each passing ok.
func checkEveryLine(t *testing.T, path string, want int, ok func(string) bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if !ok(sc.Text()) {
			t.Errorf("%s line %d: %.200s", path, n, sc.Text())
		}
	}
	if n != want {
		t.Errorf("%s: %d lines, want %d", path, n, want)
	}
}

func TestNilRun(t *testing.T) {
	var run *pipelog.Run
	run.Stage(pipelog.Pull).Done(errors.New("x"), slog.Int("bytes", 1))
	run.Stage(pipelog.Pull).Skip("y")
	if err := run.End(nil); err != nil || run.ID() != "" {
		t.Errorf("nil run: %v %q", err, run.ID())
	}
}
