package rollback

import (
	"errors"
	"fmt"
	"time"

	"github.com/eaglenotifier/talon/reconciler/gitwrite"
)

// Defaults of the options.
const (
	DefaultAuthorName  = gitwrite.DefaultAuthorName
	DefaultAuthorEmail = gitwrite.DefaultAuthorEmail
	DefaultAttempts    = 5
	DefaultBaseDelay   = 100 * time.Millisecond
	DefaultMaxDelay    = 2 * time.Second
	DefaultMaxCommits  = 100000
)

// Option configures Revert.
type Option func(*options) error

type options struct {
	dir                 string
	name, email         string
	to, ifVersion       string
	evidence            string
	attempts            int
	baseDelay, maxDelay time.Duration
	maxCommits          int
	now                 func() time.Time
}

func defaults() options {
	return options{name: DefaultAuthorName, email: DefaultAuthorEmail, attempts: DefaultAttempts,
		baseDelay: DefaultBaseDelay, maxDelay: DefaultMaxDelay, maxCommits: DefaultMaxCommits, now: time.Now}
}

// WithTo reverts the org's model changes, newest first and one revert commit each (as
// `git revert C3 C2` does), until the org's model names version — a tag, or the semver
// range or digest as written in the org file. All the reverts are pushed together or not at
// all. When the org already names version, nothing is done. The default is one revert.
func WithTo(version string) Option {
	return func(o *options) error {
		if version == "" {
			return errors.New("empty target version")
		}
		o.to = version
		return nil
	}
}

// WithIfVersion makes Revert act only while the org's model at the branch head names
// version (a tag, semver range or digest as written), and fail with ErrDesiredChanged
// otherwise. Auto-rollback uses it so that several replicas seeing the same bad version
// make one revert, not one each. The default is no precondition.
func WithIfVersion(version string) Option {
	return func(o *options) error {
		if version == "" {
			return errors.New("empty precondition version")
		}
		o.ifVersion = version
		return nil
	}
}

// WithEvidence appends paragraphs to each revert commit's message after git's
// "This reverts commit <sha>." line: for an automatic rollback, the metric window, the
// thresholds crossed and the bad digest. It must not hold secrets. The default is none.
func WithEvidence(text string) Option {
	return func(o *options) error {
		o.evidence = text
		return nil
	}
}

// WithAuthor sets the author and committer of revert commits. The default is
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

// WithDir keeps the bare repository Revert fetches into at dir (created when missing), so
// later calls fetch only what is new. The default is memory, fetching the branch's history
// on every call.
func WithDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("empty repository directory")
		}
		o.dir = dir
		return nil
	}
}

// WithRetry sets how many times Revert builds and pushes (at least 1) when other writers
// move the branch meanwhile, and the backoff between tries: base doubling up to max,
// jittered. The defaults are DefaultAttempts, DefaultBaseDelay and DefaultMaxDelay.
func WithRetry(attempts int, base, max time.Duration) Option {
	return func(o *options) error {
		if attempts < 1 || base <= 0 || max < base {
			return fmt.Errorf("retry: attempts %d, base %s, max %s: want attempts ≥ 1 and 0 < base ≤ max", attempts, base, max)
		}
		o.attempts, o.baseDelay, o.maxDelay = attempts, base, max
		return nil
	}
}

// WithClock sets the clock that dates revert commits. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("nil clock")
		}
		o.now = now
		return nil
	}
}
