package gitstatus

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func fullStatus() Status {
	return Status{
		ObservedCommit: "3f2a1c9d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49",
		Desired:        Desired{Reference: "registry.example.com/acme/pdm:1.4.2", Digest: "sha256:" + strings.Repeat("ab", 32)},
		Deployed:       Deployed{Version: "1.4.2", Digest: "sha256:" + strings.Repeat("ab", 32), Since: t0},
		Phase:          PhaseDeployed,
		LastTransition: t0.Add(time.Minute),
		Conditions: []Condition{{Type: "Ready", Status: "True", Reason: "Deployed", Message: "serving 1.4.2",
			LastTransition: t0.Add(time.Minute)}},
		Validation: map[string]any{"accuracy": 0.97, "passed": true, "checks": []any{"schema", "accuracy"}},
		Monitoring: map[string]any{"window": "5m", "errorRate": 0.0},
		LastError:  "",
	}
}

// TestRenderFormat pins the file format: key order, nesting, UTC second timestamps, sorted
// opaque maps, omitted empty values.
func TestRenderFormat(t *testing.T) {
	got, err := Render("acme", "pod-a", fullStatus())
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	want := `org: acme
replica: pod-a
observedCommit: 3f2a1c9d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49
desired:
  reference: registry.example.com/acme/pdm:1.4.2
  digest: ` + digest + `
deployed:
  version: 1.4.2
  digest: ` + digest + `
  since: "2025-03-01T12:00:00Z"
phase: Deployed
lastTransition: "2025-03-01T12:01:00Z"
conditions:
  - type: Ready
    status: "True"
    reason: Deployed
    message: serving 1.4.2
    lastTransition: "2025-03-01T12:01:00Z"
validation:
  accuracy: 0.97
  checks:
    - schema
    - accuracy
  passed: true
monitoring:
  errorRate: 0
  window: 5m
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("Render (-want +got):\n%s", diff)
	}
	org, replica, back, err := Parse(got)
	if err != nil || org != "acme" || replica != "pod-a" {
		t.Fatalf("Parse = %q, %q, %v", org, replica, err)
	}
	again, err := Render(org, replica, back)
	if err != nil || string(again) != string(got) {
		t.Errorf("Render(Parse(x)) differs from x:\n%s", again)
	}
	minimal, _ := Render("globex", "pod-b", Status{Phase: PhaseFailed, LastError: "bad signature"})
	if want := "org: globex\nreplica: pod-b\nphase: Failed\nlastError: bad signature\n"; string(minimal) != want {
		t.Errorf("minimal = %q; want %q", minimal, want)
	}
}

// TestStabilize: timestamps follow the values they date, never the caller's clock alone.
func TestStabilize(t *testing.T) {
	prev := fullStatus()
	now := t0.Add(time.Hour)
	later := func(s Status) Status { // what a caller passing time.Now() every pass sends
		s.LastTransition, s.Deployed.Since = now.Add(time.Second), now.Add(time.Second)
		s.Conditions = append([]Condition(nil), s.Conditions...)
		for i := range s.Conditions {
			s.Conditions[i].LastTransition = now.Add(time.Second)
		}
		return s
	}
	zeroed := func(s Status) Status {
		s.LastTransition, s.Deployed.Since = time.Time{}, time.Time{}
		c := s.Conditions[0]
		c.LastTransition = time.Time{}
		s.Conditions = []Condition{c}
		return s
	}
	for _, tc := range []struct {
		name string
		prev *Status
		cur  Status
		want func(Status) Status
	}{
		{"unchanged keeps all", &prev, later(prev), func(s Status) Status { return prev }},
		{"zero keeps all", &prev, zeroed(prev), func(s Status) Status { return prev }},
		{"new phase dates phase only", &prev, func() Status { s := zeroed(prev); s.Phase = PhaseStable; return s }(),
			func(s Status) Status { s = prev; s.Phase = PhaseStable; s.LastTransition = now; return s }},
		{"new version dates since", &prev, func() Status { s := zeroed(prev); s.Deployed.Version = "1.5.0"; return s }(),
			func(s Status) Status { s = prev; s.Deployed.Version = "1.5.0"; s.Deployed.Since = now; return s }},
		{"condition flips", &prev, func() Status { s := zeroed(prev); s.Conditions[0].Status = "False"; return s }(),
			func(s Status) Status {
				s = prev
				s.Conditions = []Condition{{Type: "Ready", Status: "False", Reason: "Deployed", Message: "serving 1.4.2", LastTransition: now}}
				return s
			}},
		{"first status dates everything", nil, zeroed(prev), func(s Status) Status {
			s = prev
			s.LastTransition, s.Deployed.Since = now, now
			s.Conditions = []Condition{{Type: "Ready", Status: "True", Reason: "Deployed", Message: "serving 1.4.2", LastTransition: now}}
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := stabilize(tc.prev, tc.cur, now)
			want := tc.want(tc.cur)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stabilize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	dg := "sha256:" + strings.Repeat("cd", 32)
	deployed := func(org, v string) orgChange {
		return orgChange{org: org, status: Status{Phase: PhaseDeployed, ObservedCommit: "3f2a1c9aaaaaaaaa",
			Deployed: Deployed{Version: v, Digest: dg}}}
	}
	failed := orgChange{org: "globex", status: Status{Phase: PhaseFailed, ObservedCommit: "3f2a1c9aaaaaaaaa",
		Desired: Desired{Reference: "reg.example/globex/pdm:2.0.0"}, LastError: "signature of sha256:ee… not trusted\nmore"}}
	many := []orgChange{}
	for i := range 9 {
		many = append(many, deployed(string(rune('a'+i))+"-org", "1.0.0"))
	}
	many = append(many, failed, orgChange{org: "zeta", removed: true})
	for _, tc := range []struct {
		name    string
		changes []orgChange
		subject string
	}{
		{"one", []orgChange{deployed("acme", "1.4.2")}, "acme: deployed 1.4.2 (sha256:cdcdcdcdcdcd…) from config 3f2a1c9"},
		{"two short", []orgChange{deployed("acme", "1.4.2"), failed}, "acme: deployed 1.4.2; globex: failed 2.0.0"},
		{"many", many, "status of 11 orgs: 9 deployed, 1 failed, 1 removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := message("pod-a", tc.changes)
			subject, body, _ := strings.Cut(msg, "\n\n")
			if subject != tc.subject {
				t.Errorf("subject = %q; want %q", subject, tc.subject)
			}
			if n := utf8.RuneCountInString(subject); n > maxSubject {
				t.Errorf("subject has %d characters", n)
			}
			for _, c := range tc.changes {
				if !strings.Contains(body, c.detail()+"\n") {
					t.Errorf("body lacks %q:\n%s", c.detail(), body)
				}
			}
			if !strings.HasSuffix(body, "\nTalon-Replica: pod-a\n") {
				t.Errorf("body does not end with the replica trailer:\n%s", body)
			}
		})
	}
	if d := failed.detail(); d != "globex: failed 2.0.0 from config 3f2a1c9: signature of sha256:ee… not trusted" {
		t.Errorf("failed detail = %q", d)
	}
}
