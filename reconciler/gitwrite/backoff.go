package gitwrite

import (
	"context"
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
