package lowprio

import (
	"syscall"
	"testing"
)

// TestRun: f runs on a thread whose nice value is Nice higher
// than the caller's, and the caller's thread keeps its own.
func TestRun(t *testing.T) {
	nice := func() int {
		raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
		if err != nil {
			t.Fatal(err)
		}
		return 20 - raw
	}
	before := nice()
	inside := -100
	Run(func() { inside = nice() })
	if want := min(before+Nice, 19); inside != want {
		t.Errorf("nice inside = %d, want %d (caller's %d + %d)", inside, want, before, Nice)
	}
	if after := nice(); after != before {
		t.Errorf("caller's nice changed from %d to %d", before, after)
	}
}
