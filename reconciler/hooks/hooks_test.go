package hooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/reconciler/hooks"
)

const secret = "It's a Secret to Everybody"

// receiver is a real HTTP server with the handler mounted where the daemon mounts it,
// recording every push and rejection.
type receiver struct {
	url string

	mu       sync.Mutex
	pushes   []hooks.PushEvent
	rejected []error
}

func newReceiver(t *testing.T, secret string, opts ...hooks.Option) *receiver {
	t.Helper()
	rc := &receiver{}
	opts = append(opts, hooks.WithOnReject(func(_ *http.Request, _ int, err error) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.rejected = append(rc.rejected, err)
	}))
	h, err := hooks.New([]byte(secret), func(ctx context.Context, ev hooks.PushEvent) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.pushes = append(rc.pushes, ev)
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(hooks.Path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	rc.url = srv.URL + hooks.Path
	return rc
}

func (rc *receiver) took() ([]hooks.PushEvent, []error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hooks.PushEvent(nil), rc.pushes...), append([]error(nil), rc.rejected...)
}

type response struct {
	Code   int
	Status string `json:"status"`
	Note   string `json:"note"`
	Branch string `json:"branch"`
	After  string `json:"after"`
	raw    string
}

func post(t *testing.T, u string, hd http.Header, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hd {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{Code: resp.StatusCode, raw: string(b)}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("response %d is not JSON: %q", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return r
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit returns the fixture with top-level fields replaced.
func edit(t *testing.T, b []byte, set map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		m[k] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func githubSig(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func githubHeaders(event, sig string) http.Header {
	hd := http.Header{}
	hd.Set("Content-Type", "application/json")
	hd.Set("User-Agent", "GitHub-Hookshot/a1b2c3d")
	hd.Set("X-GitHub-Event", event)
	hd.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	hd.Set("X-GitHub-Hook-ID", "498327115")
	if sig != "" {
		hd.Set("X-Hub-Signature-256", sig)
	}
	return hd
}

const (
	ghAfter = "3f2a1c9d0b7e4a5f8c6d2e1b0a9f8e7d6c5b4a39"
	glAfter = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
	zeroSHA = "0000000000000000000000000000000000000000"
)

func TestGitHub(t *testing.T) {
	push := fixture(t, "github-push.json")
	ghEvent := hooks.PushEvent{Provider: hooks.GitHub, Branch: "main", After: ghAfter,
		Repository: "acme-ml/talon-config", Delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
	form := []byte(url.Values{"payload": {string(push)}}.Encode())
	tests := []struct {
		name       string
		event      string
		body       []byte
		sign       []byte // what the signature is computed over; nil = body
		key        string
		noSig      bool
		sigHeader  string // replaces the computed header when set
		form       bool
		wantCode   int
		wantStatus string
		wantPush   []hooks.PushEvent
		wantReject error
	}{
		{name: "push to the tracked branch", event: "push", body: push, key: secret,
			wantCode: 202, wantStatus: "accepted", wantPush: []hooks.PushEvent{ghEvent}},
		{name: "form-encoded push", event: "push", body: form, form: true, key: secret,
			wantCode: 202, wantStatus: "accepted", wantPush: []hooks.PushEvent{ghEvent}},
		{name: "ping", event: "ping", body: fixture(t, "github-ping.json"), key: secret,
			wantCode: 200, wantStatus: "pong"},
		{name: "wrong secret", event: "push", body: push, key: "not the secret",
			wantCode: 401, wantStatus: "refused", wantReject: hooks.ErrUnauthorized},
		{name: "body changed after signing", event: "push", key: secret, sign: push,
			body:     edit(t, push, map[string]any{"after": "1111111111111111111111111111111111111111"}),
			wantCode: 401, wantStatus: "refused", wantReject: hooks.ErrUnauthorized},
		{name: "missing signature", event: "push", body: push, noSig: true,
			wantCode: 401, wantStatus: "refused", wantReject: hooks.ErrUnauthorized},
		{name: "sha1 signature only", event: "push", body: push, sigHeader: "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6",
			wantCode: 401, wantStatus: "refused", wantReject: hooks.ErrUnauthorized},
		{name: "signature not hex", event: "push", body: push, sigHeader: "sha256=zz",
			wantCode: 401, wantStatus: "refused", wantReject: hooks.ErrUnauthorized},
		{name: "unsigned ping", event: "ping", body: fixture(t, "github-ping.json"), noSig: true,
			wantCode: 401, wantStatus: "refused", wantReject: hooks.ErrUnauthorized},
		{name: "other branch", event: "push", key: secret,
			body:     edit(t, push, map[string]any{"ref": "refs/heads/feature/x"}),
			wantCode: 202, wantStatus: "ignored"},
		{name: "tag", event: "push", key: secret,
			body:     edit(t, push, map[string]any{"ref": "refs/tags/v1.4.2"}),
			wantCode: 202, wantStatus: "ignored"},
		{name: "branch deleted", event: "push", key: secret,
			body:     edit(t, push, map[string]any{"deleted": true, "after": zeroSHA}),
			wantCode: 202, wantStatus: "ignored"},
		{name: "not a push", event: "pull_request", body: push, key: secret,
			wantCode: 202, wantStatus: "ignored"},
		{name: "signed but not JSON", event: "push", body: []byte(`{"ref": "refs/heads/main",`), key: secret,
			wantCode: 400, wantStatus: "refused", wantReject: hooks.ErrMalformed},
		{name: "after is not a commit", event: "push", key: secret,
			body:     edit(t, push, map[string]any{"after": "main; rm -rf /"}),
			wantCode: 400, wantStatus: "refused", wantReject: hooks.ErrMalformed},
		{name: "form without payload", event: "push", body: []byte("x=1"), form: true, key: secret,
			wantCode: 400, wantStatus: "refused", wantReject: hooks.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, secret)
			signed := tt.sign
			if signed == nil {
				signed = tt.body
			}
			sig := ""
			if !tt.noSig {
				sig = githubSig(tt.key, signed)
			}
			if tt.sigHeader != "" {
				sig = tt.sigHeader
			}
			hd := githubHeaders(tt.event, sig)
			if tt.form {
				hd.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			r := post(t, rc.url, hd, bytes.NewReader(tt.body))
			if r.Code != tt.wantCode || r.Status != tt.wantStatus {
				t.Errorf("got %d %q (%s), want %d %q", r.Code, r.Status, r.raw, tt.wantCode, tt.wantStatus)
			}
			checkNoLeak(t, r.raw, sig)
			pushes, rejected := rc.took()
			if diff := cmp.Diff(tt.wantPush, pushes); diff != "" {
				t.Errorf("pushes (-want +got):\n%s", diff)
			}
			checkRejected(t, rejected, tt.wantReject)
		})
	}
}

// checkNoLeak fails if a response body holds the secret or the signature sent.
func checkNoLeak(t *testing.T, body, sig string) {
	t.Helper()
	if strings.Contains(body, secret) || (sig != "" && strings.Contains(body, sig)) {
		t.Errorf("response leaks the secret or signature: %s", body)
	}
}

func checkRejected(t *testing.T, got []error, want error) {
	t.Helper()
	if want == nil {
		if len(got) != 0 {
			t.Errorf("unexpected rejections: %v", got)
		}
		return
	}
	if len(got) != 1 || !errors.Is(got[0], want) {
		t.Fatalf("rejections %v, want one %v", got, want)
	}
	if strings.Contains(got[0].Error(), secret) {
		t.Errorf("rejection error leaks the secret: %v", got[0])
	}
}
