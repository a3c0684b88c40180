package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// post makes one attempt. It returns the HTTP status (0 without an answer), the wait a
// Retry-After header asked for, and nil on a 2xx answer. Errors name the target, never
// its URL.
func (n *Notifier) post(w *worker, d *delivery, attempt int) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(n.abort, n.opts.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.u.String(), bytes.NewReader(d.body))
	if err != nil {
		return 0, 0, fmt.Errorf("alert target %s: building request failed", w.t.Name)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "talon-alerts/1")
	req.Header.Set("X-Talon-Event", d.kind)
	req.Header.Set("X-Talon-Delivery", d.id)
	req.Header.Set("X-Talon-Attempt", strconv.Itoa(attempt))
	if len(w.t.Secret) > 0 {
		req.Header.Set("X-Talon-Signature-256", Sign(w.t.Secret, d.body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error prints the URL, whose path or query may hold a token
		}
		return 0, 0, fmt.Errorf("POST to alert target %s: %w", w.t.Name, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, nil
	}
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		&StatusError{Target: w.t.Name, Code: resp.StatusCode}
}

// Sign returns the X-Talon-Signature-256 value of body: "sha256=" + hex HMAC-SHA256.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// backoff is the wait after a failed attempt: base doubling per attempt up to max, with
// "equal jitter" (half fixed, half random), and at least what Retry-After asked for, up to
// MaxRetryAfter.
func (n *Notifier) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := n.opts.base
	for i := 1; i < attempt && d < n.opts.max; i++ {
		d *= 2
	}
	d = min(d, n.opts.max)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	if ra := min(retryAfter, MaxRetryAfter); ra > d {
		d = ra
	}
	return d
}

// retryAfter parses a Retry-After value (delay seconds or an HTTP date); 0 when absent
// or invalid.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(MaxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
