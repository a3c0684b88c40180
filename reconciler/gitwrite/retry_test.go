package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestRetryStale: lost races are retried up to the bound, any other result ends the
// retries at once, exhaustion wraps both the caller's sentinel and ErrStale, and a
// cancelled context ends the pause.
func TestRetryStale(t *testing.T) {
	exhausted := errors.New("lost every race")
	stale := fmt.Errorf("push: %w", ErrStale)
	other := errors.New("boom")
	run := func(ctx context.Context, results ...error) (int, int, error) {
		calls := 0
		tries, err := RetryStale(ctx, 3, time.Millisecond, 2*time.Millisecond, "write x", exhausted, func() error {
			calls++
			return results[min(calls, len(results))-1]
		})
		return tries, calls, err
	}
	ctx := context.Background()
	if tries, calls, err := run(ctx, stale, nil); err != nil || tries != 2 || calls != 2 {
		t.Errorf("stale then success: %d tries, %d calls, %v; want 2, 2, nil", tries, calls, err)
	}
	if tries, _, err := run(ctx, stale, other); err != other || tries != 2 {
		t.Errorf("stale then another error: %d tries, %v; want 2 and that error as is", tries, err)
	}
	tries, calls, err := run(ctx, stale)
	if tries != 3 || calls != 3 || !errors.Is(err, exhausted) || !errors.Is(err, ErrStale) || err.Error() != "write x: lost every race after 3 attempts: push: remote branch moved" {
		t.Errorf("always stale: %d tries, %d calls, %v", tries, calls, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if tries, _, err := run(cancelled, stale); tries != 1 || !errors.Is(err, context.Canceled) || errors.Is(err, exhausted) {
		t.Errorf("cancelled: %d tries, %v; want 1 try and context.Canceled", tries, err)
	}
}
