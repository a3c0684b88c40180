package pipelog

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eaglenotifier/talon/policy"
)

// MaxTail bounds Tail's n.
const MaxTail = 10000

// Tail returns up to the last n lines of org's log, oldest first, reading back through
// daily files as needed (n is capped at MaxTail). Lines that do not parse (a torn write)
// or are longer than 1 MiB are skipped. An org without a log has no lines.
func (l *Log) Tail(org string, n int) ([]Line, error) {
	if err := policy.ValidateOrgName(org); err != nil {
		return nil, fmt.Errorf("pipelog: %w", err)
	}
	n = min(n, MaxTail)
	if n <= 0 {
		return nil, nil
	}
	days, err := l.days(org)
	if err != nil {
		return nil, err
	}
	var out []Line
	for i := len(days) - 1; i >= 0 && len(out) < n; i-- {
		lines, err := lastLines(filepath.Join(l.Dir(org), days[i]), n-len(out))
		if err != nil {
			return nil, err
		}
		out = append(lines, out...)
	}
	return out, nil
}

// days lists org's log file names, oldest first.
func (l *Log) days(org string) ([]string, error) {
	ents, err := os.ReadDir(l.Dir(org))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pipelog: %w", err)
	}
	var names []string
	for _, e := range ents {
		if _, ok := dayOf(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // YYYY-MM-DD sorts by date
	return names, nil
}

// dayOf parses a log file name.
func dayOf(name string) (time.Time, bool) {
	base, ok := strings.CutSuffix(name, ".jsonl")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, base)
	return t, err == nil && t.Format(time.DateOnly) == base
}

// lastLines reads the file through, keeping its last n parseable lines.
func lastLines(path string, n int) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pipelog: %w", err)
	}
	defer f.Close()
	ring := make([]Line, 0, n)
	start := 0 // index of the oldest line once the ring is full
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		b, err := readLine(br)
		if len(b) > 0 {
			var ln Line
			if json.Unmarshal(b, &ln) == nil {
				if len(ring) < n {
					ring = append(ring, ln)
				} else {
					ring[start] = ln
					start = (start + 1) % n
				}
			}
		}
		if err != nil {
			break
		}
	}
	return append(ring[start:], ring[:start]...), nil
}

// readLine returns the next newline-terminated line without its newline; a line longer
// than maxLine is consumed and returned empty. At the end it returns a final unterminated
// (torn) line as empty, and an error.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	long := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(line)+len(chunk) > maxLine+1 {
				long, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == nil:
			if long {
				return nil, nil
			}
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

// Prune removes every org's log files of UTC days that ended more than olderThan ago; the
// current day's file is always kept. It returns the removed files relative to the pipeline
// directory (<org>/logs/<day>.jsonl), also when it stops at an error.
func (l *Log) Prune(olderThan time.Duration) ([]string, error) {
	cutoff := l.now().Add(-max(olderThan, 0))
	orgs, err := os.ReadDir(l.root)
	if err != nil {
		return nil, fmt.Errorf("pipelog: %w", err)
	}
	var removed []string
	for _, o := range orgs {
		if !o.IsDir() || policy.ValidateOrgName(o.Name()) != nil {
			continue
		}
		days, err := l.days(o.Name())
		if err != nil {
			return removed, err
		}
		for _, d := range days {
			day, _ := dayOf(d)
			if day.Add(24 * time.Hour).After(cutoff) {
				break // days are sorted; the rest are newer
			}
			if err := os.Remove(filepath.Join(l.Dir(o.Name()), d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, fmt.Errorf("pipelog: %w", err)
			}
			removed = append(removed, filepath.Join(o.Name(), "logs", d))
		}
	}
	return removed, nil
}
