package reconciler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Kind says what a failed reconcile needs: time (the registry was down) or a person (the
// artifact or the desired state is wrong). Retries are decided by Kind, never by message.
type Kind int

const (
	// Transient failures are retried with capped exponential backoff and jitter.
	Transient Kind = iota
	// Stalled failures need a person: no retry until the org's desired state changes.
	Stalled
)

func (k Kind) String() string {
	if k == Stalled {
		return "stalled"
	}
	return "transient"
}

// Error is a failed step of one org's reconcile.
type Error struct {
	Kind Kind
	// Step is the step that failed: resolve, verify, pull, load, validate, deploy or swap.
	Step string
	// Reason is a short CamelCase reason for status conditions, such as "PullFailed".
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// stalled and transient wrap err as a step failure of that kind.
func stalled(step, reason string, err error) error {
	return &Error{Kind: Stalled, Step: step, Reason: reason, Err: err}
}

func transient(step, reason string, err error) error {
	return &Error{Kind: Transient, Step: step, Reason: reason, Err: err}
}

// KindOf returns the Kind of err; errors that are not an *Error are Transient, and a
// cancelled or timed-out context is always Transient.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return e.Kind
	}
	return Transient
}

// ReasonOf returns the Reason of err, or "ReconcileFailed".
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Reason != "" {
		return e.Reason
	}
	return "ReconcileFailed"
}

// Backoff is a capped exponential backoff with full jitter in [d/2, d].
type Backoff struct {
	// Base is the first delay. The default is 1s.
	Base time.Duration
	// Max caps the delay. The default is 5m.
	Max time.Duration
}

// Delay returns the delay before retry number attempt (1 for the first retry).
func (b Backoff) Delay(attempt int) time.Duration {
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = time.Second
	}
	if maxd <= 0 {
		maxd = 5 * time.Minute
	}
	d := base
	for i := 1; i < attempt && d < maxd; i++ {
		d *= 2
	}
	d = min(d, maxd)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// wrapf wraps err with a formatted prefix, keeping it an *Error when it was one.
func wrapf(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}
