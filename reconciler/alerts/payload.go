package alerts

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eaglenotifier/talon/policy"
)

// Schema is the payload's "schema" value.
const Schema = "talon.alert.v1"

// Size caps on the payload's free-form parts.
const (
	maxReason   = 2 << 10
	maxEvidence = 16 << 10
)

type payload struct {
	Schema   string          `json:"schema"`
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	Org      string          `json:"org,omitempty"`
	Version  string          `json:"version,omitempty"`
	Digest   string          `json:"digest,omitempty"`
	Commit   string          `json:"commit,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Evidence json.RawMessage `json:"evidence,omitempty"`
	Time     time.Time       `json:"time"`
}

// encode validates ev and serialises it, redacted, with a new delivery id.
func encode(ev Event) (*delivery, error) {
	if !slices.Contains(Kinds, ev.Kind) {
		return nil, fmt.Errorf("alerts: unknown event kind %q (expected one of %s)", ev.Kind, strings.Join(Kinds, ", "))
	}
	if ev.Org != "" {
		if err := policy.ValidateOrgName(ev.Org); err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	var id [16]byte
	rand.Read(id[:])
	p := payload{
		Schema: Schema, ID: hex.EncodeToString(id[:]), Kind: ev.Kind, Org: ev.Org,
		Version: scrub(ev.Version), Digest: scrub(ev.Digest), Commit: scrub(ev.Commit),
		Reason: truncate(scrub(ev.Reason), maxReason), Time: ev.Time.UTC(),
	}
	if len(ev.Evidence) > 0 {
		ev, err := redactEvidence(ev.Evidence)
		if err != nil {
			return nil, fmt.Errorf("alerts: %s event for %q: evidence: %w", p.Kind, p.Org, err)
		}
		p.Evidence = ev
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	return &delivery{id: p.ID, org: p.Org, kind: p.Kind, body: body}, nil
}

// redactEvidence serialises ev without secrets: byte slices become "[N bytes omitted]",
// then, on the generic JSON, values under secret-looking keys become "[redacted]" and URL
// credentials are removed from every string.
func redactEvidence(ev map[string]any) (json.RawMessage, error) {
	b, err := json.Marshal(normalize(ev))
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	if b, err = json.Marshal(redact("", generic)); err != nil {
		return nil, err
	}
	if len(b) > maxEvidence {
		return json.Marshal(map[string]any{"truncated": true, "bytes": len(b)})
	}
	return b, nil
}

// normalize replaces the Go values JSON would turn into something unsafe or unreadable.
func normalize(v any) any {
	switch x := v.(type) {
	case []byte:
		return fmt.Sprintf("[%d bytes omitted]", len(x))
	case json.RawMessage:
		var g any
		if json.Unmarshal(x, &g) != nil {
			return fmt.Sprintf("[%d bytes omitted]", len(x))
		}
		return g
	case error:
		return x.Error()
	case time.Duration:
		return x.String()
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normalize(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = normalize(e)
		}
		return s
	}
	return v
}

// redact walks decoded JSON.
func redact(key string, v any) any {
	if secretKey(key) {
		return "[redacted]"
	}
	switch x := v.(type) {
	case string:
		return scrub(x)
	case map[string]any:
		for k, e := range x {
			x[k] = redact(k, e)
		}
	case []any:
		for i, e := range x {
			x[i] = redact(key, e)
		}
	}
	return v
}

var secretWords = []string{"secret", "token", "password", "passwd", "credential", "authorization", "privatekey", "apikey", "cookie"}

func secretKey(k string) bool {
	k = strings.NewReplacer("_", "", "-", "", " ", "", ".", "").Replace(strings.ToLower(k))
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

var (
	urlCreds    = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@`)
	querySecret = regexp.MustCompile(`(?i)([?&](?:[a-z0-9_\-]*(?:token|secret|password|key|sig|signature)[a-z0-9_\-]*)=)[^&\s#"]+`)
)

// scrub removes URL credentials and secret-looking query parameters from s.
func scrub(s string) string {
	s = urlCreds.ReplaceAllString(s, "$1")
	return querySecret.ReplaceAllString(s, "${1}[redacted]")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
