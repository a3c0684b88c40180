package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff returns the pause before retry number attempt (1 for the first retry): base
// doubled attempt-1 times, capped at max, then jittered uniformly over its upper half so
// writers that collided spread out.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + rand.N(d/2+1)
}

// Sleep pauses for d or until ctx is done, and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RetryStale runs once until it returns anything but an error wrapping ErrStale (a push
// that lost the race to another writer; once rebuilds on the new head), at most attempts
// times, pausing Backoff(attempt, base, max) between tries, and returns how many tries it
// made and once's last result. When every try lost the race it returns an error
// "<what>: <exhausted> after <n> attempts: <last error>" wrapping exhausted and ErrStale;
// when ctx ends during a pause, "<what>: <ctx's error>".
func RetryStale(ctx context.Context, attempts int, base, max time.Duration, what string, exhausted error, once func() error) (int, error) {
	for attempt := 1; ; attempt++ {
		err := once()
		if !errors.Is(err, ErrStale) {
			return attempt, err
		}
		if attempt >= attempts {
			return attempt, fmt.Errorf("%s: %w after %d attempts: %w", what, exhausted, attempt, err)
		}
		if err := Sleep(ctx, Backoff(attempt, base, max)); err != nil {
			return attempt, fmt.Errorf("%s: %w", what, err)
		}
	}
}
