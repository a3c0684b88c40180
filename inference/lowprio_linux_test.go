package inference

import (
	"syscall"
	"testing"
)

// TestWithLowPriority: f runs on a thread whose nice value is loadNice higher
// than the caller's, and the caller's thread keeps its own.
func TestWithLowPriority(t *testing.T) {
	nice := func() int {
		raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
		if err != nil {
			t.Fatal(err)
		}
		return 20 - raw
	}
	before := nice()
	inside := -100
	withLowPriority(func() { inside = nice() })
	if want := min(before+loadNice, 19); inside != want {
		t.Errorf("nice inside = %d, want %d (caller's %d + %d)", inside, want, before, loadNice)
	}
	if after := nice(); after != before {
		t.Errorf("caller's nice changed from %d to %d", before, after)
	}
}
