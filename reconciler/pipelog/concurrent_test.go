package pipelog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/eaglenotifier/talon/reconciler/pipelog"
)

var stages = []string{pipelog.Resolve, pipelog.Verify, pipelog.Pull, pipelog.Validate, pipelog.Deploy, pipelog.Swap, pipelog.Record}

// writeRun logs one full run with long values, so a line spans many pipe-buffer-sized
// chunks if writes were split.
func writeRun(l *pipelog.Log, org string, i int) error {
	run, err := l.Start(org, fmt.Sprintf("%040d", i))
	if err != nil {
		return err
	}
	for _, s := range stages {
		run.Stage(s).Done(errors.New(strings.Repeat(org[:1], 6000)), slog.String("digest", strings.Repeat("d", 900)))
	}
	return run.End(nil)
}

// TestConcurrentRuns: runs of many orgs, and several runs of one org, at once; every line
// of every file is whole JSON of the file's org.
func TestConcurrentRuns(t *testing.T) {
	data := t.TempDir()
	l, _ := pipelog.Open(data)
	orgs := []string{"acme", "globex", "initech", "umbrella", "hooli", "vandelay"}
	const runs = 20
	var wg sync.WaitGroup
	errs := make(chan error, len(orgs)*runs*2)
	for _, org := range orgs {
		for w := range 2 { // two writers per org: the lock keeps lines whole
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range runs {
					errs <- writeRun(l, org, w*runs+i)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, org := range orgs {
		files, _ := filepath.Glob(filepath.Join(data, "pipeline", org, "logs", "*.jsonl"))
		total := 0
		for _, f := range files {
			b, _ := os.ReadFile(f)
			for n, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
				var ln pipelog.Line
				if err := json.Unmarshal([]byte(line), &ln); err != nil || ln.Org != org {
					t.Fatalf("%s line %d is not a whole line of %s: %.120s", f, n+1, org, line)
				}
				total++
			}
		}
		if want := 2 * runs * (len(stages) + 1); total != want {
			t.Errorf("%s: %d lines, want %d", org, total, want)
		}
	}
}

// TestKilledMidRun: a process killed with SIGKILL in the middle of a run leaves every
// line it wrote, the ended run whole, and a log the next process appends to.
func TestKilledMidRun(t *testing.T) {
	if dir := os.Getenv("PIPELOG_CHILD_DIR"); dir != "" {
		l, _ := pipelog.Open(dir)
		writeRun(l, "acme", 1)
		run, _ := l.Start("acme", "in-flight")
		run.Stage(pipelog.Resolve).Done(nil)
		run.Stage(pipelog.Pull) // killed while pulling
		fmt.Println("ready")
		select {}
	}
	data := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledMidRun$")
	cmd.Env = append(os.Environ(), "PIPELOG_CHILD_DIR="+data)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "ready") {
		cmd.Process.Kill()
		t.Fatalf("child said %q", buf[:n])
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	l, _ := pipelog.Open(data)
	if err := writeRun(l, "acme", 2); err != nil {
		t.Fatal(err)
	}
	got, err := l.Tail("acme", 100)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, ln := range got {
		summary = append(summary, ln.Commit[len(ln.Commit)-1:]+"/"+ln.Stage)
	}
	want := "1/resolve 1/verify 1/pull 1/validate 1/deploy 1/swap 1/record 1/run t/resolve " +
		"2/resolve 2/verify 2/pull 2/validate 2/deploy 2/swap 2/record 2/run"
	if strings.Join(summary, " ") != want {
		t.Errorf("lines after the kill:\n got %s\nwant %s", strings.Join(summary, " "), want)
	}
}
