// Package hooks receives push webhooks from GitHub and GitLab at POST /hooks/git, verifies
// them against a shared secret and reports pushes to the tracked branch through a callback,
// so the reconciler can fetch at once instead of at its next poll.
//
// Authentication, chosen by the event header the request carries:
//
//   - GitHub (X-GitHub-Event): X-Hub-Signature-256 must be "sha256=" + the hex HMAC-SHA256 of
//     the raw body keyed with the secret; compared with hmac.Equal.
//   - GitLab (X-Gitlab-Event), secret token: X-Gitlab-Token must equal the secret; compared
//     with subtle.ConstantTimeCompare.
//   - GitLab, signing token (WithGitLabSigningToken; GitLab's newer HMAC signing, which follows
//     the Standard Webhooks scheme): webhook-signature holds space-separated "v1,<base64>"
//     HMAC-SHA256 values of "<webhook-id>.<webhook-timestamp>.<body>" keyed with the base64
//     bytes after the token's "whsec_" prefix, and webhook-timestamp (Unix seconds) must be
//     within the tolerance (default 5m) of now. When a signing token is configured it is
//     required for GitLab and X-Gitlab-Token is not consulted.
//
// Responses: 405 for methods other than POST, 413 for a body over the limit (default 1 MiB),
// 400 without an event header or with a malformed payload, 401 when authentication fails
// (never saying which part), 200 for GitHub's ping, 202 for a push (accepted, or ignored with
// a note: another branch, a tag, a branch deletion, another event). Response bodies are JSON
// {"status": ..., "note": ...} and never contain the secret or the signature.
//
// Repeated and replayed deliveries are harmless: the callback is meant to call the
// reconciler's Trigger, which never blocks and coalesces any number of requests into one
// pending pass, and a pass whose remote head has not moved fetches nothing. The handler has
// no rate limit of its own; an unauthenticated request costs one bounded read and one HMAC.
package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Path is where the daemon mounts the handler.
const Path = "/hooks/git"

// Provider names the sender of a push event.
type Provider string

// The providers the handler understands.
const (
	GitHub Provider = "github"
	GitLab Provider = "gitlab"
)

// PushEvent is a verified push to the tracked branch.
type PushEvent struct {
	Provider Provider
	// Branch is the pushed branch, without "refs/heads/".
	Branch string
	// After is the commit the branch points to after the push (hex).
	After string
	// Repository is the repository's full name: GitHub's full_name ("owner/repo") or
	// GitLab's path_with_namespace ("group/sub/repo").
	Repository string
	// Delivery is the sender's delivery id (X-GitHub-Delivery, X-Gitlab-Event-UUID or
	// webhook-id), for logs; empty when the sender gave none.
	Delivery string
}

// Errors passed to the reject callback; errors.Is tells them apart. The HTTP response never
// says which authentication check failed.
var (
	ErrUnauthorized = errors.New("webhook authentication failed")
	ErrTooLarge     = errors.New("webhook body too large")
	ErrMalformed    = errors.New("malformed webhook")
)

// Handler is the http.Handler for POST /hooks/git.
type Handler struct {
	secret     []byte
	signingKey []byte
	branch     string
	maxBody    int64
	tolerance  time.Duration
	now        func() time.Time
	onPush     func(context.Context, PushEvent)
	onReject   func(*http.Request, int, error)
}

// Option configures a Handler.
type Option func(*Handler) error

// WithBranch sets the tracked branch; pushes to other branches are ignored. The default
// is "main".
func WithBranch(branch string) Option {
	return func(h *Handler) error {
		if branch == "" {
			return errors.New("hooks: empty branch")
		}
		h.branch = branch
		return nil
	}
}

// WithMaxBody bounds the request body in bytes. The default is 1 MiB.
func WithMaxBody(n int64) Option {
	return func(h *Handler) error {
		if n <= 0 {
			return fmt.Errorf("hooks: max body %d must be positive", n)
		}
		h.maxBody = n
		return nil
	}
}

// WithGitLabSigningToken enables GitLab's HMAC signing token ("whsec_<base64>", as GitLab
// shows it) and makes it required for GitLab deliveries.
func WithGitLabSigningToken(token []byte) Option {
	return func(h *Handler) error {
		key, err := decodeSigningToken(token)
		if err != nil {
			return err
		}
		h.signingKey = key
		return nil
	}
}

// WithTimestampTolerance bounds how far a signed GitLab delivery's webhook-timestamp may be
// from now. The default is 5m.
func WithTimestampTolerance(d time.Duration) Option {
	return func(h *Handler) error {
		if d <= 0 {
			return fmt.Errorf("hooks: tolerance %s must be positive", d)
		}
		h.tolerance = d
		return nil
	}
}

// WithClock sets the clock used to check webhook-timestamp. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(h *Handler) error {
		if now == nil {
			return errors.New("hooks: nil clock")
		}
		h.now = now
		return nil
	}
}

// WithOnReject sets a callback told about every refused request with its status code and
// why (wrapping ErrUnauthorized, ErrTooLarge or ErrMalformed), for the binary's logs. The
// error names the failed check but never holds the secret or the signature. The default
// ignores rejections.
func WithOnReject(f func(r *http.Request, status int, err error)) Option {
	return func(h *Handler) error {
		h.onReject = f
		return nil
	}
}

// New returns a Handler that authenticates GitHub and GitLab deliveries with secret and
// calls onPush, synchronously and before answering 202, for every verified push to the
// tracked branch; onPush must not block. A secret is required unless a GitLab signing token
// is configured (then only signed GitLab deliveries can pass). Whitespace around the secret
// (a secret file's trailing newline) is trimmed.
func New(secret []byte, onPush func(context.Context, PushEvent), opts ...Option) (*Handler, error) {
	if onPush == nil {
		return nil, errors.New("hooks: nil push callback")
	}
	h := &Handler{
		secret:    bytes.Clone(bytes.TrimSpace(secret)),
		branch:    "main",
		maxBody:   1 << 20,
		tolerance: 5 * time.Minute,
		now:       time.Now,
		onPush:    onPush,
	}
	for _, o := range opts {
		if err := o(h); err != nil {
			return nil, err
		}
	}
	if len(h.secret) == 0 && len(h.signingKey) == 0 {
		return nil, errors.New("hooks: a webhook secret is required (unauthenticated webhooks are refused)")
	}
	return h, nil
}

// reply is the JSON body of every response.
type reply struct {
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
	Branch string `json:"branch,omitempty"`
	After  string `json:"after,omitempty"`
}
