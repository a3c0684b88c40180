package hooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/reconciler/hooks"
)

func gitlabHeaders(event, token string) http.Header {
	hd := http.Header{}
	hd.Set("Content-Type", "application/json")
	hd.Set("User-Agent", "GitLab/18.9.0")
	hd.Set("X-Gitlab-Event", event)
	hd.Set("X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e")
	hd.Set("X-Gitlab-Instance", "https://gitlab.example.com")
	hd.Set("X-Gitlab-Webhook-UUID", "d2ea8a5a-9f0b-4d43-9a1d-4f8ee5f2ea31")
	if token != "" {
		hd.Set("X-Gitlab-Token", token)
	}
	return hd
}

var glEvent = hooks.PushEvent{Provider: hooks.GitLab, Branch: "main", After: glAfter,
	Repository: "ml-platform/configs/talon-config", Delivery: "13792a34-cac6-4fda-95a8-c58e00a3954e"}

func TestGitLabSecretToken(t *testing.T) {
	push := fixture(t, "gitlab-push.json")
	tests := []struct {
		name       string
		event      string
		token      string
		body       []byte
		wantCode   int
		wantStatus string
		wantPush   []hooks.PushEvent
		wantReject error
	}{
		{name: "push to the tracked branch", event: "Push Hook", token: secret, body: push,
			wantCode: 202, wantStatus: "accepted", wantPush: []hooks.PushEvent{glEvent}},
		{name: "wrong token", event: "Push Hook", token: "It's a Secret to Everybody!", body: push,
			wantCode: 401, wantStatus: "refused", wantReject: hooks.ErrUnauthorized},
		{name: "token is a prefix of the secret", event: "Push Hook", token: secret[:5], body: push,
			wantCode: 401, wantStatus: "refused", wantReject: hooks.ErrUnauthorized},
		{name: "no token", event: "Push Hook", body: push,
			wantCode: 401, wantStatus: "refused", wantReject: hooks.ErrUnauthorized},
		{name: "other branch", event: "Push Hook", token: secret,
			body:     edit(t, push, map[string]any{"ref": "refs/heads/develop"}),
			wantCode: 202, wantStatus: "ignored"},
		{name: "branch deleted", event: "Push Hook", token: secret,
			body:     edit(t, push, map[string]any{"after": zeroSHA, "checkout_sha": nil}),
			wantCode: 202, wantStatus: "ignored"},
		{name: "tag push hook", event: "Tag Push Hook", token: secret,
			body:     edit(t, push, map[string]any{"object_kind": "tag_push", "ref": "refs/tags/v2.0.1"}),
			wantCode: 202, wantStatus: "ignored"},
		{name: "push hook that is not a push", event: "Push Hook", token: secret,
			body:     edit(t, push, map[string]any{"object_kind": "merge_request"}),
			wantCode: 400, wantStatus: "refused", wantReject: hooks.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, secret)
			r := post(t, rc.url, gitlabHeaders(tt.event, tt.token), bytes.NewReader(tt.body))
			if r.Code != tt.wantCode || r.Status != tt.wantStatus {
				t.Errorf("got %d %q (%s), want %d %q", r.Code, r.Status, r.raw, tt.wantCode, tt.wantStatus)
			}
			checkNoLeak(t, r.raw, "")
			pushes, rejected := rc.took()
			if diff := cmp.Diff(tt.wantPush, pushes); diff != "" {
				t.Errorf("pushes (-want +got):\n%s", diff)
			}
			checkRejected(t, rejected, tt.wantReject)
		})
	}
}

// signingToken is a GitLab signing token as GitLab shows it: whsec_ + base64 of 32 bytes.
var signingKey = bytes.Repeat([]byte{0x5a, 0xc3, 0x17, 0x9e}, 8)
var signingToken = "whsec_" + base64.StdEncoding.EncodeToString(signingKey)

func standardSig(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestGitLabSigningToken(t *testing.T) {
	push := fixture(t, "gitlab-push.json")
	now := time.Date(2026, 3, 2, 11, 2, 45, 0, time.UTC)
	ts := strconv.FormatInt(now.Unix(), 10)
	const id = "msg_2f1c7e0a-5b8d-4e55-9c1a-1b2c3d4e5f60"
	other := bytes.Repeat([]byte{1}, 32)
	tests := []struct {
		name       string
		id, ts     string
		sig        string
		token      string
		wantCode   int
		wantReject error
	}{
		{name: "signed", id: id, ts: ts, sig: standardSig(signingKey, id, ts, push), wantCode: 202},
		{name: "second of several signatures matches", id: id, ts: ts,
			sig: standardSig(other, id, ts, push) + " " + standardSig(signingKey, id, ts, push), wantCode: 202},
		{name: "wrong key", id: id, ts: ts, sig: standardSig(other, id, ts, push),
			wantCode: 401, wantReject: hooks.ErrUnauthorized},
		{name: "id not the one signed", id: id + "x", ts: ts, sig: standardSig(signingKey, id, ts, push),
			wantCode: 401, wantReject: hooks.ErrUnauthorized},
		{name: "stale timestamp", id: id, ts: strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10),
			sig:      standardSig(signingKey, id, strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10), push),
			wantCode: 401, wantReject: hooks.ErrUnauthorized},
		{name: "secret token alone is not enough once signing is on", token: secret,
			wantCode: 401, wantReject: hooks.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, secret, hooks.WithGitLabSigningToken([]byte(signingToken+"\n")),
				hooks.WithClock(func() time.Time { return now }))
			hd := gitlabHeaders("Push Hook", tt.token)
			for k, v := range map[string]string{"webhook-id": tt.id, "webhook-timestamp": tt.ts, "webhook-signature": tt.sig} {
				if v != "" {
					hd.Set(k, v)
				}
			}
			r := post(t, rc.url, hd, bytes.NewReader(push))
			if r.Code != tt.wantCode {
				t.Errorf("got %d (%s), want %d", r.Code, r.raw, tt.wantCode)
			}
			checkNoLeak(t, r.raw, tt.sig)
			if strings.Contains(r.raw, signingToken[6:]) {
				t.Errorf("response leaks the signing token: %s", r.raw)
			}
			pushes, rejected := rc.took()
			var want []hooks.PushEvent
			if tt.wantCode == 202 {
				want = []hooks.PushEvent{glEvent}
			}
			if diff := cmp.Diff(want, pushes); diff != "" {
				t.Errorf("pushes (-want +got):\n%s", diff)
			}
			checkRejected(t, rejected, tt.wantReject)
		})
	}
}

// onlyReader hides bytes.Reader's length so the client sends the body chunked.
type onlyReader struct{ io.Reader }

func TestLimitsAndRouting(t *testing.T) {
	push := fixture(t, "github-push.json")
	sig := githubSig(secret, push)
	tests := []struct {
		name       string
		method     string
		hd         http.Header
		body       io.Reader
		wantCode   int
		wantReject error
	}{
		{name: "over the limit with Content-Length", hd: githubHeaders("push", sig), body: bytes.NewReader(push),
			wantCode: 413, wantReject: hooks.ErrTooLarge},
		{name: "over the limit chunked", hd: githubHeaders("push", sig), body: onlyReader{bytes.NewReader(push)},
			wantCode: 413, wantReject: hooks.ErrTooLarge},
		{name: "no event header", hd: http.Header{"X-Hub-Signature-256": {sig}}, body: strings.NewReader("{}"),
			wantCode: 400, wantReject: hooks.ErrMalformed},
		{name: "GET", method: http.MethodGet, hd: http.Header{}, wantCode: 405, wantReject: hooks.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, secret, hooks.WithMaxBody(1024))
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, rc.url, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tt.hd
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Errorf("got %d, want %d", resp.StatusCode, tt.wantCode)
			}
			pushes, rejected := rc.took()
			if len(pushes) != 0 {
				t.Errorf("pushes %v", pushes)
			}
			checkRejected(t, rejected, tt.wantReject)
		})
	}
}

// TestReplay: a delivery replayed (GitHub's "Redeliver", an attacker with a captured
// request) is accepted each time; the callback is the reconciler's coalescing Trigger, so
// a replay costs at most one no-change fetch.
func TestReplay(t *testing.T) {
	rc := newReceiver(t, secret)
	push := fixture(t, "github-push.json")
	hd := githubHeaders("push", githubSig(secret, push))
	for range 3 {
		if r := post(t, rc.url, hd, bytes.NewReader(push)); r.Code != 202 || r.Status != "accepted" {
			t.Fatalf("replay: %d %s", r.Code, r.raw)
		}
	}
	if pushes, _ := rc.took(); len(pushes) != 3 {
		t.Errorf("%d pushes, want 3", len(pushes))
	}
}

func TestWithBranch(t *testing.T) {
	rc := newReceiver(t, secret, hooks.WithBranch("production"))
	push := fixture(t, "github-push.json")
	for _, ref := range []string{"refs/heads/main", "refs/heads/production"} {
		b := edit(t, push, map[string]any{"ref": ref})
		post(t, rc.url, githubHeaders("push", githubSig(secret, b)), bytes.NewReader(b))
	}
	pushes, _ := rc.took()
	want := []hooks.PushEvent{{Provider: hooks.GitHub, Branch: "production", After: ghAfter,
		Repository: "acme-ml/talon-config", Delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958"}}
	if diff := cmp.Diff(want, pushes); diff != "" {
		t.Errorf("pushes (-want +got):\n%s", diff)
	}
}

func TestNewRefuses(t *testing.T) {
	cb := func(context.Context, hooks.PushEvent) {}
	tests := []struct {
		name   string
		secret string
		cb     func(context.Context, hooks.PushEvent)
		opts   []hooks.Option
	}{
		{name: "no secret", secret: " \n", cb: cb},
		{name: "no callback", secret: secret},
		{name: "signing token not base64", secret: secret, cb: cb, opts: []hooks.Option{hooks.WithGitLabSigningToken([]byte("whsec_!!"))}},
		{name: "signing key too short", secret: secret, cb: cb,
			opts: []hooks.Option{hooks.WithGitLabSigningToken([]byte("whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))))}},
		{name: "empty branch", secret: secret, cb: cb, opts: []hooks.Option{hooks.WithBranch("")}},
		{name: "zero max body", secret: secret, cb: cb, opts: []hooks.Option{hooks.WithMaxBody(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := hooks.New([]byte(tt.secret), tt.cb, tt.opts...); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}
