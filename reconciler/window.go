package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eaglenotifier/talon/policy"
)

// waitError holds a change back until a time: the org's deployment window opens. It is not
// a failure: no alert, no backoff, and the change is retried when the window opens.
type waitError struct {
	until time.Time
	err   error
}

func (e *waitError) Error() string { return e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

// ReasonWaitingForWindow is the status reason of a change held until its window opens.
const ReasonWaitingForWindow = "WaitingForWindow"

// waitUntil returns when a held-back change is due, or false when err is no wait.
func waitUntil(err error) (time.Time, bool) {
	var w *waitError
	if errors.As(err, &w) {
		return w.until, true
	}
	return time.Time{}, false
}

// isRollback reports whether a config commit is a rollback: a `git revert`, `talon
// rollback` or Talon's own auto-rollback, all of which write git's "Revert "…"" subject.
func isRollback(subject string) bool { return strings.HasPrefix(subject, `Revert "`) }

// window holds a new version until the org's deployment window is open. Rollbacks ignore
// the window. The candidate is already pulled, verified and validated, so it deploys as
// soon as the window opens.
func (r *Reconciler) window(_ context.Context, run *orgRun) error {
	if isRollback(run.subject) {
		return nil
	}
	ws, err := policy.WindowAt(run.org.Window, r.now())
	if err != nil {
		return stalled("window", "InvalidWindow", fmt.Errorf("deployment window of %s: %w", run.org.Name, err))
	}
	if ws.Open {
		return nil
	}
	if ws.NextOpen.IsZero() {
		return stalled("window", ReasonWaitingForWindow, fmt.Errorf("%s: the deployment window never opens again; %s waits", run.org.Name, run.digest))
	}
	return &Error{Kind: Transient, Step: "window", Reason: ReasonWaitingForWindow, Err: &waitError{
		until: ws.NextOpen,
		err:   fmt.Errorf("waiting for the deployment window of %s: it opens at %s", run.org.Name, ws.NextOpen.UTC().Format(time.RFC3339)),
	}}
}
