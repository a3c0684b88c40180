// Package alerts delivers webhook alerts about orgs (Failed, Degraded, RolledBack,
// Recovered, Deployed) to HTTP targets, asynchronously, with bounded queues and retries, so
// the reconciler never waits on a receiver.
//
// Each target has its own queue (default 256 events) and one delivery goroutine. Send never
// blocks: when a queue is full its oldest event is dropped and counted. A delivery is retried
// on network errors and on 408, 429 and 5xx answers, with capped exponential backoff and
// jitter (default 1s doubling to at most 1m, 6 attempts in all), waiting at least as long as a
// Retry-After header asks (up to MaxRetryAfter); other answers (3xx, 4xx) are final.
// Redirects are not followed. Close drains the queues until its context ends.
//
// # Payload
//
// Every delivery is a POST of one JSON object, schema "talon.alert.v1":
//
//	{
//	  "schema":   "talon.alert.v1",
//	  "id":       "a1b2c3d4e5f60718293a4b5c6d7e8f90", // one per event; the same on every retry
//	  "kind":     "Failed",                           // Failed|Degraded|RolledBack|Recovered|Deployed
//	  "org":      "acme",                             // omitted for process-wide events
//	  "version":  "v1.4.2",                           // optional fields are omitted when empty
//	  "digest":   "sha256:…",
//	  "commit":   "3f2a1c…",                          // the config commit
//	  "reason":   "…",                                // at most 2 KiB
//	  "evidence": {…},                                // at most 16 KiB of JSON, else {"truncated": true}
//	  "time":     "2026-03-02T10:15:18.123Z"          // RFC 3339, UTC
//	}
//
// with headers Content-Type: application/json, X-Talon-Event: <kind>, X-Talon-Delivery: <id>,
// X-Talon-Attempt: <n>, and, when the target has a Secret, X-Talon-Signature-256:
// sha256=<hex HMAC-SHA256 of the body keyed with the secret> (GitHub's scheme; verify it with
// a constant-time compare). Receivers should deduplicate by id.
//
// Payloads carry no secrets: URL credentials ("user:pass@") are removed from the reason and
// every evidence string, evidence entries whose key names a secret (token, password, secret,
// credential, authorization, private key, api key) are replaced by "[redacted]" and byte
// slices (model bytes, keys) by "[N bytes omitted]". Target URLs must not hold credentials;
// results and errors name a target by Target.Name (default scheme://host), never its URL,
// whose path or query may hold a token.
package alerts

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/eaglenotifier/talon/policy"
)

// Event kinds.
const (
	Failed     = "Failed"
	Degraded   = "Degraded"
	RolledBack = "RolledBack"
	Recovered  = "Recovered"
	Deployed   = "Deployed"
)

// Kinds lists every event kind; DefaultKinds are what a target without Events receives.
var (
	Kinds        = []string{Failed, Degraded, RolledBack, Recovered, Deployed}
	DefaultKinds = []string{Failed, Degraded, RolledBack, Recovered}
)

// MaxRetryAfter caps how long a Retry-After header can delay the next attempt.
const MaxRetryAfter = 5 * time.Minute

// Errors reported in Results and returned by Send; errors.Is tells them apart.
var (
	// ErrClosed: Send after Close, or an event abandoned when Close's deadline passed.
	ErrClosed = errors.New("alerts: notifier closed")
	// ErrDropped: an event pushed out of a full queue by a newer one.
	ErrDropped = errors.New("alerts: queue full, oldest event dropped")
)

// StatusError is a delivery answered with a non-2xx status.
type StatusError struct {
	Target string
	Code   int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("alert target %s answered %d %s", e.Target, e.Code, http.StatusText(e.Code))
}

// Retryable reports whether the status is worth another attempt: 408, 429 or 5xx.
func (e *StatusError) Retryable() bool {
	return e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// Target is one webhook receiver.
type Target struct {
	// Name identifies the target in Results and Stats. The default is the URL's
	// scheme://host, which never includes its path or query.
	Name string
	// URL is an http or https URL without credentials.
	URL string
	// Events are the kinds the target receives. The default is DefaultKinds.
	Events []string
	// Orgs limits the target to these orgs' events. The default is every org.
	Orgs []string
	// Secret, when set, signs each body in X-Talon-Signature-256.
	Secret []byte
}

// Event is something that happened to an org.
type Event struct {
	Org     string
	Kind    string
	Version string
	Digest  string
	Commit  string
	Reason  string
	// Evidence is kind-specific detail (metric window, thresholds, …); it is copied,
	// redacted and serialised by Send.
	Evidence map[string]any
	// Time is when it happened. The default is the time of Send.
	Time time.Time
}

// Result is the outcome of one delivery attempt, or of an event that was never attempted.
type Result struct {
	Target  string
	ID      string
	Org     string
	Kind    string
	Attempt int // 0 when the event was dropped before any attempt
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// Err is nil on success; a *StatusError, a network error, ErrDropped or ErrClosed.
	Err error
	// RetryIn is the wait before the next attempt; 0 when this result is final.
	RetryIn time.Duration
	// Dropped is set when the event will never be delivered because it was dropped from a
	// full queue or abandoned at Close.
	Dropped bool
}

// Stats counts one target's events.
type Stats struct {
	Target    string
	Queued    int
	Delivered uint64
	Failed    uint64 // gave up: a final status, or attempts exhausted
	Dropped   uint64 // queue overflow or abandoned at Close
}

type options struct {
	queueSize   int
	maxAttempts int
	base, max   time.Duration
	timeout     time.Duration
	client      *http.Client
	results     func(Result)
	sleep       func(ctxDone <-chan struct{}, d time.Duration) bool
}

// Option configures a Notifier.
type Option func(*options) error

// WithQueueSize bounds each target's queue. The default is 256.
func WithQueueSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("alerts: queue size %d must be at least 1", n)
		}
		o.queueSize = n
		return nil
	}
}

// WithMaxAttempts bounds the attempts per event and target. The default is 6.
func WithMaxAttempts(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("alerts: max attempts %d must be at least 1", n)
		}
		o.maxAttempts = n
		return nil
	}
}

// WithBackoff sets the first retry delay and the cap of the doubling delays. The defaults
// are 1s and 1m.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) error {
		if base <= 0 || max < base {
			return fmt.Errorf("alerts: backoff base %s and max %s: need 0 < base <= max", base, max)
		}
		o.base, o.max = base, max
		return nil
	}
}

// WithTimeout bounds one attempt (connect, send, answer). The default is 10s.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("alerts: timeout %s must be positive", d)
		}
		o.timeout = d
		return nil
	}
}

// WithHTTPClient sets the client (transport, proxies, TLS roots). It is copied, and the
// copy never follows redirects. The default is a client with http.DefaultTransport.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("alerts: nil HTTP client")
		}
		o.client = c
		return nil
	}
}

// WithResults sets the callback told about every attempt and every dropped event, for
// the binary's logs and metrics. It may be called concurrently, from delivery goroutines
// and from Send, and must not block. The default ignores results.
func WithResults(f func(Result)) Option {
	return func(o *options) error {
		o.results = f
		return nil
	}
}

// checkTarget validates t and fills its defaults. Errors name the target by index and host,
// never by its full URL.
func checkTarget(i int, t Target) (Target, *url.URL, error) {
	u, err := url.Parse(t.URL)
	if err != nil || u.Host == "" {
		return t, nil, fmt.Errorf("alerts: target %d: URL is not an absolute http(s) URL", i)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return t, nil, fmt.Errorf("alerts: target %d (%s): scheme %q: only http and https", i, u.Host, u.Scheme)
	}
	if u.User != nil {
		return t, nil, fmt.Errorf("alerts: target %d (%s): URL must not contain credentials (user:password@); sign with Secret instead", i, u.Host)
	}
	if t.Name == "" {
		t.Name = u.Scheme + "://" + u.Host
	}
	if len(t.Events) == 0 {
		t.Events = DefaultKinds
	}
	for _, k := range t.Events {
		if !slices.Contains(Kinds, k) {
			return t, nil, fmt.Errorf("alerts: target %s: unknown event %q (expected one of %s)", t.Name, k, strings.Join(Kinds, ", "))
		}
	}
	for _, org := range t.Orgs {
		if err := policy.ValidateOrgName(org); err != nil {
			return t, nil, fmt.Errorf("alerts: target %s: %w", t.Name, err)
		}
	}
	t.Events, t.Orgs, t.Secret = slices.Clone(t.Events), slices.Clone(t.Orgs), slices.Clone(t.Secret)
	return t, u, nil
}

// wants reports whether t receives events of kind for org.
func (t *Target) wants(kind, org string) bool {
	return slices.Contains(t.Events, kind) && (len(t.Orgs) == 0 || slices.Contains(t.Orgs, org))
}
