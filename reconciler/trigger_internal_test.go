package reconciler

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestTriggerCommitHint checks the hint a webhook leaves for the next pass: the latest
// well-formed one wins, a pass takes it once, malformed ones are ignored, and every call
// still asks for a pass.
func TestTriggerCommitHint(t *testing.T) {
	r := &Reconciler{kick: make(chan struct{}, 1)}
	kicked := func() bool {
		select {
		case <-r.kick:
			return true
		default:
			return false
		}
	}
	a, b := strings.Repeat("a1", 20), strings.Repeat("b2", 20)

	if h := r.takeHint(); !h.IsZero() {
		t.Fatalf("hint before any TriggerCommit = %s; want none", h)
	}
	r.TriggerCommit(a)
	r.TriggerCommit(b)
	if !kicked() {
		t.Error("TriggerCommit did not ask for a pass")
	}
	if h := r.takeHint(); h != plumbing.NewHash(b) {
		t.Errorf("hint = %s; want the latest, %s", h, b)
	}
	if h := r.takeHint(); !h.IsZero() {
		t.Errorf("hint taken twice: %s", h)
	}

	for _, bad := range []string{"", "main", a[:39], a + "0", strings.Repeat("c", 64), strings.Repeat("0", 40), "zz" + a[2:]} {
		r.TriggerCommit(bad)
		if !kicked() {
			t.Errorf("TriggerCommit(%q) did not ask for a pass", bad)
		}
		if h := r.takeHint(); !h.IsZero() {
			t.Errorf("TriggerCommit(%q) left hint %s; want none", bad, h)
		}
	}
}
