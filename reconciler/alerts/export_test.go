package alerts

import "time"

// WithSleep replaces the wait between attempts, so tests can see the planned waits
// without spending them. f reports whether the wait completed (false = aborted).
func WithSleep(f func(done <-chan struct{}, d time.Duration) bool) Option {
	return func(o *options) error {
		o.sleep = f
		return nil
	}
}
