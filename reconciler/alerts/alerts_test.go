package alerts_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/reconciler/alerts"
)

// receiver is a real HTTP server answering each request with the next status of script
// (the last one repeats), recording what it got.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	script  []answer
	got     []request
	arrived chan struct{} // one value per request, before it is answered
	hold    chan struct{} // when set, every answer waits until it is closed
}

type answer struct {
	code       int
	retryAfter string
}

type request struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, script ...answer) *receiver {
	t.Helper()
	rc := &receiver{script: script, arrived: make(chan struct{}, 1000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, request{r.Header.Clone(), b})
		a := answer{code: 200}
		if len(rc.script) > 0 {
			a = rc.script[0]
			if len(rc.script) > 1 {
				rc.script = rc.script[1:]
			}
		}
		hold := rc.hold
		rc.mu.Unlock()
		rc.arrived <- struct{}{}
		if hold != nil {
			<-hold
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.code)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

// results collects the Results callback.
type results struct {
	mu  sync.Mutex
	all []alerts.Result
}

func (r *results) add(x alerts.Result) { r.mu.Lock(); r.all = append(r.all, x); r.mu.Unlock() }
func (r *results) list() []alerts.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]alerts.Result(nil), r.all...)
}

// sleeps records the planned waits without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(done <-chan struct{}, d time.Duration) bool {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

func newNotifier(t *testing.T, targets []alerts.Target, opts ...alerts.Option) (*alerts.Notifier, *results) {
	t.Helper()
	res := &results{}
	opts = append([]alerts.Option{alerts.WithBackoff(time.Millisecond, 4*time.Millisecond), alerts.WithResults(res.add)}, opts...)
	n, err := alerts.New(targets, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	return n, res
}

func closeNow(t *testing.T, n *alerts.Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

var failed = alerts.Event{Org: "acme", Kind: alerts.Failed, Version: "v1.4.2",
	Digest: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Commit: "3f2a1c9d0b7e",
	Reason: "validation gate: accuracy 0.81 < 0.90", Time: time.Date(2026, 3, 2, 10, 15, 18, 0, time.UTC)}

// outcome summarises a Result for comparison.
type outcome struct {
	Attempt, Status int
	Retry, Dropped  bool
	Err             string
}

func outcomes(rs []alerts.Result) []outcome {
	var out []outcome
	for _, r := range rs {
		o := outcome{Attempt: r.Attempt, Status: r.Status, Retry: r.RetryIn > 0, Dropped: r.Dropped}
		var se *alerts.StatusError
		switch {
		case r.Err == nil:
		case errors.As(r.Err, &se):
			o.Err = "status"
		case errors.Is(r.Err, alerts.ErrDropped):
			o.Err = "dropped"
		case errors.Is(r.Err, alerts.ErrClosed):
			o.Err = "closed"
		default:
			o.Err = "network"
		}
		out = append(out, o)
	}
	return out
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		script    []answer
		want      []outcome
		wantStats alerts.Stats
	}{
		{name: "503 twice then 200", script: []answer{{code: 503}, {code: 503}, {code: 204}},
			want:      []outcome{{1, 503, true, false, "status"}, {2, 503, true, false, "status"}, {3, 204, false, false, ""}},
			wantStats: alerts.Stats{Delivered: 1}},
		{name: "429 then 200", script: []answer{{code: 429}, {code: 200}},
			want:      []outcome{{1, 429, true, false, "status"}, {2, 200, false, false, ""}},
			wantStats: alerts.Stats{Delivered: 1}},
		{name: "400 is final", script: []answer{{code: 400}, {code: 200}},
			want:      []outcome{{1, 400, false, false, "status"}},
			wantStats: alerts.Stats{Failed: 1}},
		{name: "redirect is final", script: []answer{{code: 302}, {code: 200}},
			want:      []outcome{{1, 302, false, false, "status"}},
			wantStats: alerts.Stats{Failed: 1}},
		{name: "500 until attempts run out", script: []answer{{code: 500}},
			want:      []outcome{{1, 500, true, false, "status"}, {2, 500, true, false, "status"}, {3, 500, false, false, "status"}},
			wantStats: alerts.Stats{Failed: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.script...)
			n, res := newNotifier(t, []alerts.Target{{URL: rc.URL + "/talon"}}, alerts.WithMaxAttempts(3))
			if err := n.Send(failed); err != nil {
				t.Fatal(err)
			}
			closeNow(t, n)
			if diff := cmp.Diff(tt.want, outcomes(res.list())); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			tt.wantStats.Target = strings.TrimSuffix(rc.URL, "/")
			if diff := cmp.Diff([]alerts.Stats{tt.wantStats}, n.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			reqs := rc.requests()
			if len(reqs) != len(tt.want) {
				t.Fatalf("%d requests, want %d", len(reqs), len(tt.want))
			}
			for _, r := range reqs[1:] { // a retry resends the same delivery
				if string(r.body) != string(reqs[0].body) || r.header.Get("X-Talon-Delivery") != reqs[0].header.Get("X-Talon-Delivery") {
					t.Errorf("retry differs from the first attempt")
				}
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		want       time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"capped", "86400", alerts.MaxRetryAfter},
		{"garbage is ignored", "soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, answer{code: 503, retryAfter: tt.retryAfter}, answer{code: 200})
			sl := &sleeps{}
			n, res := newNotifier(t, []alerts.Target{{URL: rc.URL}}, alerts.WithSleep(sl.sleep))
			n.Send(failed)
			closeNow(t, n)
			rs := res.list()
			if len(rs) != 2 || rs[1].Err != nil {
				t.Fatalf("results %+v", rs)
			}
			got := rs[0].RetryIn
			if tt.want == 0 { // the backoff alone: between base/2 and base
				if got < 500*time.Microsecond || got > time.Millisecond {
					t.Errorf("wait %s, want the 1ms backoff with jitter", got)
				}
			} else if got != tt.want {
				t.Errorf("wait %s, want %s", got, tt.want)
			}
			if diff := cmp.Diff([]time.Duration{got}, sl.d); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBackoffGrows checks the planned waits double from the base up to the cap, with
// jitter keeping each in [d/2, d].
func TestBackoffGrows(t *testing.T) {
	rc := newReceiver(t, answer{code: 502})
	sl := &sleeps{}
	n, _ := newNotifier(t, []alerts.Target{{URL: rc.URL}}, alerts.WithSleep(sl.sleep),
		alerts.WithMaxAttempts(7), alerts.WithBackoff(10*time.Second, 80*time.Second))
	n.Send(failed)
	closeNow(t, n)
	caps := []time.Duration{10, 20, 40, 80, 80, 80}
	if len(sl.d) != len(caps) {
		t.Fatalf("waits %v", sl.d)
	}
	for i, c := range caps {
		if c *= time.Second; sl.d[i] < c/2 || sl.d[i] > c {
			t.Errorf("wait %d is %s, want in [%s, %s]", i+1, sl.d[i], c/2, c)
		}
	}
}

func TestNetworkErrorHidesURL(t *testing.T) {
	rc := newReceiver(t)
	u := rc.URL + "/services/T0001/B0002/XyzSecretPathPart?token=hunter2"
	rc.Close() // nothing listens any more: connection refused
	n, res := newNotifier(t, []alerts.Target{{URL: u}}, alerts.WithMaxAttempts(2))
	n.Send(failed)
	closeNow(t, n)
	want := []outcome{{1, 0, true, false, "network"}, {2, 0, false, false, "network"}}
	rs := res.list()
	if diff := cmp.Diff(want, outcomes(rs)); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	for _, r := range rs {
		if msg := r.Err.Error(); strings.Contains(msg, "XyzSecretPathPart") || strings.Contains(msg, "hunter2") {
			t.Errorf("error shows the URL: %s", msg)
		}
	}
}

func TestSignature(t *testing.T) {
	rc := newReceiver(t)
	secret := []byte("alert-signing-secret")
	n, _ := newNotifier(t, []alerts.Target{{Name: "signed", URL: rc.URL + "/a", Secret: secret}, {Name: "plain", URL: rc.URL + "/b"}})
	n.Send(failed)
	closeNow(t, n)
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	var signed, plain int
	for _, r := range reqs {
		sig := r.header.Get("X-Talon-Signature-256")
		if sig == "" {
			plain++
			continue
		}
		if !hmac.Equal([]byte(sig), []byte(alerts.Sign(secret, r.body))) {
			t.Errorf("signature %s does not verify", sig)
		}
		if hmac.Equal([]byte(sig), []byte(alerts.Sign([]byte("other"), r.body))) {
			t.Errorf("signature verifies with another key")
		}
		signed++
	}
	if signed != 1 || plain != 1 {
		t.Errorf("signed %d, plain %d; want 1 and 1", signed, plain)
	}
	for _, r := range reqs {
		if strings.Contains(string(r.body), string(secret)) {
			t.Errorf("payload holds the secret")
		}
		if got := r.header.Get("X-Talon-Event"); got != alerts.Failed {
			t.Errorf("X-Talon-Event %q", got)
		}
	}
}

func TestQueueOverflowDropsOldest(t *testing.T) {
	rc := newReceiver(t)
	hold := make(chan struct{})
	rc.hold = hold
	n, res := newNotifier(t, []alerts.Target{{URL: rc.URL}}, alerts.WithQueueSize(2))
	send := func(reason string) {
		ev := failed
		ev.Reason = reason
		if err := n.Send(ev); err != nil {
			t.Fatal(err)
		}
	}
	send("e1")
	<-rc.arrived // e1 is in flight; the queue is empty
	for _, r := range []string{"e2", "e3", "e4", "e5", "e6"} {
		send(r) // never blocks although the receiver hangs
	}
	if st := n.Stats()[0]; st.Queued != 2 || st.Dropped != 3 {
		t.Errorf("stats %+v, want 2 queued and 3 dropped", st)
	}
	close(hold)
	closeNow(t, n)
	var reasons []string
	for _, r := range rc.requests() {
		var p struct{ Reason string }
		json.Unmarshal(r.body, &p)
		reasons = append(reasons, p.Reason)
	}
	if diff := cmp.Diff([]string{"e1", "e5", "e6"}, reasons); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	var dropped int
	for _, r := range res.list() {
		if r.Dropped && errors.Is(r.Err, alerts.ErrDropped) {
			dropped++
		}
	}
	if dropped != 3 {
		t.Errorf("%d dropped results, want 3", dropped)
	}
}
