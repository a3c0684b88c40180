package alerts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/reconciler/alerts"
)

func TestPayload(t *testing.T) {
	rc := newReceiver(t)
	n, _ := newNotifier(t, []alerts.Target{{URL: rc.URL}})
	ev := failed
	ev.Kind = alerts.Degraded
	ev.Reason = "p95 latency 41ms > 25ms; registry https://ci-bot:glpat-AbC123@registry.example.com/v2/ unreachable"
	ev.Evidence = map[string]any{
		"window":        5 * time.Minute,
		"p95_ms":        41.5,
		"threshold_ms":  25,
		"samples":       []any{40.1, 42.0},
		"registryToken": "glpat-AbC123",
		"auth":          map[string]any{"Password": "pw", "user": "ci-bot"},
		"model":         []byte{0x08, 0x07, 0x12, 0x04},
		"source":        "https://example.com/hook?access_token=AbC123&org=acme",
		"cause":         fmt.Errorf("dial tcp: connection refused"),
	}
	if err := n.Send(ev); err != nil {
		t.Fatal(err)
	}
	closeNow(t, n)
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	var got map[string]any
	if err := json.Unmarshal(reqs[0].body, &got); err != nil {
		t.Fatal(err)
	}
	id, _ := got["id"].(string)
	if len(id) != 32 || reqs[0].header.Get("X-Talon-Delivery") != id {
		t.Errorf("id %q, header %q", id, reqs[0].header.Get("X-Talon-Delivery"))
	}
	delete(got, "id")
	want := map[string]any{
		"schema": "talon.alert.v1", "kind": "Degraded", "org": "acme", "version": "v1.4.2",
		"digest": failed.Digest, "commit": "3f2a1c9d0b7e", "time": "2026-03-02T10:15:18Z",
		"reason": "p95 latency 41ms > 25ms; registry https://registry.example.com/v2/ unreachable",
		"evidence": map[string]any{
			"window": "5m0s", "p95_ms": 41.5, "threshold_ms": 25.0, "samples": []any{40.1, 42.0},
			"registryToken": "[redacted]",
			"auth":          map[string]any{"Password": "[redacted]", "user": "ci-bot"},
			"model":         "[4 bytes omitted]",
			"source":        "https://example.com/hook?access_token=[redacted]&org=acme",
			"cause":         "dial tcp: connection refused",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	for _, leak := range []string{"glpat-AbC123", "AbC123", `"pw"`} {
		if strings.Contains(string(reqs[0].body), leak) {
			t.Errorf("payload leaks %s", leak)
		}
	}
}

func TestPayloadBounded(t *testing.T) {
	rc := newReceiver(t)
	n, _ := newNotifier(t, []alerts.Target{{URL: rc.URL}})
	ev := failed
	ev.Reason = strings.Repeat("é", 5000)
	ev.Evidence = map[string]any{"rows": strings.Repeat("x", 100<<10)}
	n.Send(ev)
	closeNow(t, n)
	var p struct {
		Reason   string
		Evidence map[string]any
	}
	if err := json.Unmarshal(rc.requests()[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Reason) > 2<<10+len("…") || !strings.HasSuffix(p.Reason, "é…") {
		t.Errorf("reason not truncated on a rune boundary: %d bytes", len(p.Reason))
	}
	if p.Evidence["truncated"] != true {
		t.Errorf("evidence %v, want truncated", p.Evidence)
	}
}

func TestRouting(t *testing.T) {
	rc := newReceiver(t)
	n, _ := newNotifier(t, []alerts.Target{
		{Name: "deploys", URL: rc.URL + "/deploys", Events: []string{alerts.Deployed}},
		{Name: "default", URL: rc.URL + "/default"},
		{Name: "globex-only", URL: rc.URL + "/globex", Orgs: []string{"globex"}},
	})
	for _, ev := range []alerts.Event{
		{Org: "acme", Kind: alerts.Deployed}, {Org: "acme", Kind: alerts.Failed},
		{Org: "globex", Kind: alerts.Recovered}, {Org: "globex", Kind: alerts.Deployed},
	} {
		if err := n.Send(ev); err != nil {
			t.Fatal(err)
		}
	}
	closeNow(t, n)
	got := map[string]int{}
	for _, st := range n.Stats() {
		got[st.Target] = int(st.Delivered)
	}
	want := map[string]int{"deploys": 2, "default": 2, "globex-only": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries per target (-want +got):\n%s", diff)
	}
}

func TestCloseDrains(t *testing.T) {
	rc := newReceiver(t, answer{code: 503}, answer{code: 200})
	n, _ := newNotifier(t, []alerts.Target{{URL: rc.URL}})
	for range 20 {
		n.Send(failed)
	}
	closeNow(t, n)
	if st := n.Stats()[0]; st.Delivered != 20 || st.Queued != 0 {
		t.Errorf("stats after Close %+v, want 20 delivered", st)
	}
	if err := n.Send(failed); !errors.Is(err, alerts.ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
}

func TestCloseDeadlineAbandons(t *testing.T) {
	rc := newReceiver(t)
	hold := make(chan struct{})
	defer close(hold)
	rc.hold = hold // the receiver never answers while the test runs
	n, res := newNotifier(t, []alerts.Target{{URL: rc.URL}}, alerts.WithTimeout(time.Hour))
	for range 3 {
		n.Send(failed)
	}
	<-rc.arrived
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want DeadlineExceeded", err)
	}
	if st := n.Stats()[0]; st.Dropped != 3 || st.Delivered != 0 || st.Queued != 0 {
		t.Errorf("stats %+v, want 3 dropped", st)
	}
	for _, r := range res.list() {
		if !r.Dropped || !errors.Is(r.Err, alerts.ErrClosed) {
			t.Errorf("result %+v, want dropped with ErrClosed", r)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name   string
		target alerts.Target
		leak   string
	}{
		{name: "credentials in URL", target: alerts.Target{URL: "https://bot:s3cr3t@hooks.example.com/x"}, leak: "s3cr3t"},
		{name: "ftp", target: alerts.Target{URL: "ftp://hooks.example.com/x"}},
		{name: "relative", target: alerts.Target{URL: "/hooks"}},
		{name: "unparsable", target: alerts.Target{URL: "https://hooks.example.com/%zz?token=t0k"}, leak: "t0k"},
		{name: "unknown event", target: alerts.Target{URL: "https://hooks.example.com", Events: []string{"Faild"}}},
		{name: "bad org", target: alerts.Target{URL: "https://hooks.example.com", Orgs: []string{"../acme"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := alerts.New([]alerts.Target{tt.target})
			if err == nil {
				t.Fatal("New accepted it")
			}
			if tt.leak != "" && strings.Contains(err.Error(), tt.leak) {
				t.Errorf("error leaks %q: %v", tt.leak, err)
			}
		})
	}
	n, _ := newNotifier(t, []alerts.Target{{URL: "https://hooks.example.com"}})
	for _, ev := range []alerts.Event{{Org: "acme", Kind: "Exploded"}, {Org: "Not An Org", Kind: alerts.Failed}} {
		if err := n.Send(ev); err == nil {
			t.Errorf("Send(%+v) accepted it", ev)
		}
	}
}
