package gitstatus

import (
	"errors"
	"fmt"
	"time"

	"github.com/eaglenotifier/talon/reconciler/gitwrite"
)

// Defaults of the options.
const (
	DefaultAttempts    = 12
	DefaultBaseDelay   = 50 * time.Millisecond
	DefaultMaxDelay    = 2 * time.Second
	DefaultMaxFileSize = 256 << 10 // 256 KiB
	DefaultAuthorName  = gitwrite.DefaultAuthorName
	DefaultAuthorEmail = gitwrite.DefaultAuthorEmail
)

// Option configures New.
type Option func(*options) error

type options struct {
	dir                 string
	name, email         string
	attempts            int
	baseDelay, maxDelay time.Duration
	maxFile             int
	now                 func() time.Time
}

func defaults() options {
	return options{name: DefaultAuthorName, email: DefaultAuthorEmail, attempts: DefaultAttempts,
		baseDelay: DefaultBaseDelay, maxDelay: DefaultMaxDelay, maxFile: DefaultMaxFileSize, now: time.Now}
}

// WithDir keeps the writer's bare repository at dir (created when missing), so a restarted
// replica fetches only what is new. The default is memory: the status branch's history is
// fetched again after a restart.
func WithDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("empty repository directory")
		}
		o.dir = dir
		return nil
	}
}

// WithAuthor sets the author and committer of status commits. The default is
// DefaultAuthorName <DefaultAuthorEmail>.
func WithAuthor(name, email string) Option {
	return func(o *options) error {
		if name == "" || email == "" {
			return errors.New("author name and email must not be empty")
		}
		o.name, o.email = name, email
		return nil
	}
}

// WithRetry sets how many times Publish tries to push (at least 1) and the backoff between
// tries: base doubling up to max, each pause drawn from its upper half. The defaults are
// DefaultAttempts, DefaultBaseDelay and DefaultMaxDelay.
func WithRetry(attempts int, base, max time.Duration) Option {
	return func(o *options) error {
		if attempts < 1 || base <= 0 || max < base {
			return fmt.Errorf("retry: attempts %d, base %s, max %s: want attempts ≥ 1 and 0 < base ≤ max", attempts, base, max)
		}
		o.attempts, o.baseDelay, o.maxDelay = attempts, base, max
		return nil
	}
}

// WithMaxFileSize bounds each status file, written or read. The default is
// DefaultMaxFileSize.
func WithMaxFileSize(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("max file size %d: must be positive", n)
		}
		o.maxFile = n
		return nil
	}
}

// WithClock sets the clock that dates changed values and commits. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("nil clock")
		}
		o.now = now
		return nil
	}
}
