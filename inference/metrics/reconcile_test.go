package metrics

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

func TestConfigFetchMetrics(t *testing.T) {
	m := New(Options{})
	got := scrape(t, m)
	for _, k := range []string{ // present at 0, so rate() and absent() tell a quiet Talon from a missing one
		`talon_config_fetch_total[result="success"]`,
		`talon_config_fetch_total[result="error"]`,
		`talon_config_last_success_timestamp_seconds[]`,
		`talon_reconcile_duration_seconds[]`,
		`talon_status_publish_total[result="success"]`,
		`talon_status_publish_total[result="error"]`,
	} {
		if g, ok := got[k]; !ok || g != 0 {
			t.Errorf("before any event: %s = %v (present %v), want 0", k, g, ok)
		}
	}
	if n := len(matching(got, "talon_config_commit_info")); n != 0 {
		t.Errorf("%d talon_config_commit_info series before a fetch, want 0", n)
	}

	t1, t2 := time.Unix(1_700_000_000, 500_000_000), time.Unix(1_700_000_030, 0)
	m.ObserveConfigFetch("aaaa", t1, nil)
	m.ObserveConfigFetch("", t2, errors.New("connection refused"))
	m.ObserveConfigFetch("", t2, errors.New("connection refused"))
	got = scrape(t, m)
	for k, v := range map[string]float64{
		`talon_config_fetch_total[result="success"]`:    1,
		`talon_config_fetch_total[result="error"]`:      2,
		`talon_config_last_success_timestamp_seconds[]`: 1_700_000_000.5,
		`talon_config_commit_info[commit="aaaa"]`:       1,
	} {
		if got[k] != v {
			t.Errorf("after a failing fetch: %s = %v, want %v", k, got[k], v)
		}
	}

	m.ObserveConfigFetch("bbbb", t2, nil)
	got = scrape(t, m)
	if diff := cmp.Diff(map[string]float64{`talon_config_commit_info[commit="bbbb"]`: 1}, matching(got, "talon_config_commit_info")); diff != "" {
		t.Errorf("commit info is one series, the last commit read (-want +got):\n%s", diff)
	}
	if g := got[`talon_config_last_success_timestamp_seconds[]`]; g != float64(t2.Unix()) {
		t.Errorf("last success = %v, want %v", g, t2.Unix())
	}
}

func TestReconcileOutcomeMetrics(t *testing.T) {
	m := New(Options{})
	m.ObservePass(40 * time.Millisecond)
	m.ObservePass(3 * time.Second)
	m.ObserveOrgReconcile("acme", "")
	m.ObserveOrgReconcile("acme", "PullFailed")
	m.ObserveOrgReconcile("acme", "PullFailed")
	m.ObserveOrgReconcile("globex", "GateFailed")
	m.ObserveStatusPublish(nil)
	m.ObserveStatusPublish(errors.New("push: connection refused"))
	m.ObserveStatusPublish(errors.New("push: connection refused"))
	got := scrape(t, m)
	for k, v := range map[string]float64{
		`talon_reconcile_duration_seconds[]`:                         2,
		`talon_org_reconcile_total[org="acme" result="success"]`:     1,
		`talon_org_reconcile_total[org="acme" result="failed"]`:      2,
		`talon_org_failures_total[org="acme" reason="PullFailed"]`:   2,
		`talon_org_reconcile_total[org="globex" result="failed"]`:    1,
		`talon_org_failures_total[org="globex" reason="GateFailed"]`: 1,
		`talon_status_publish_total[result="success"]`:               1,
		`talon_status_publish_total[result="error"]`:                 2,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got[`talon_org_reconcile_total[org="globex" result="success"]`]; ok {
		t.Error("globex has a success series; it never succeeded")
	}
	if n := len(matching(got, "talon_org_failures_total")); n != 2 {
		t.Errorf("%d failure series, want 2 (one per org and reason seen)", n)
	}
	sum, err := histogramSum(m, "talon_reconcile_duration_seconds")
	if err != nil || sum < 3.03 || sum > 3.05 {
		t.Errorf("pass duration sum = %v, %v; want 3.04", sum, err)
	}

	// An org that leaves the config loses its series, whether it served (Forget) or not.
	m.RetainOrgs([]string{"acme"})
	for k := range scrape(t, m) {
		if strings.Contains(k, `org="globex"`) {
			t.Errorf("after RetainOrgs(acme): %s", k)
		}
	}
	m.Forget("acme")
	for k := range scrape(t, m) {
		if strings.Contains(k, `org="acme"`) {
			t.Errorf("after Forget(acme): %s", k)
		}
	}
	m.ObserveOrgReconcile("acme", "")
	if got := scrape(t, m)[`talon_org_reconcile_total[org="acme" result="success"]`]; got != 1 {
		t.Errorf("an org back in the config counts from 0: %v, want 1", got)
	}
}

func histogramSum(m *Metrics, name string) (float64, error) {
	fams, err := m.Registry().Gather()
	if err != nil {
		return 0, err
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.Metric[0].GetHistogram().GetSampleSum(), nil
		}
	}
	return 0, errors.New(name + " not gathered")
}

// healthSource is a ReconcileSource whose orgs the test sets.
type healthSource struct {
	mu   sync.Mutex
	orgs []OrgHealth
}

func (s *healthSource) OrgHealth() []OrgHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]OrgHealth(nil), s.orgs...)
}

func (s *healthSource) set(orgs ...OrgHealth) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgs = orgs
}

func TestOrgHealthCollector(t *testing.T) {
	m := New(Options{})
	src := &healthSource{}
	if err := m.RegisterReconciler(src, "Deployed", "Failed", "Degraded", "Failed"); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterReconciler(src); !errors.Is(err, ErrSourceRegistered) {
		t.Fatalf("second RegisterReconciler: %v, want ErrSourceRegistered", err)
	}
	src.set(
		OrgHealth{Org: "acme", Phase: "Deployed", Ready: true},
		OrgHealth{Org: "globex", Phase: "Failed", Stalled: true},
		OrgHealth{Org: "initech", Phase: "Rollback"}, // not in the listed phases
	)
	got := scrape(t, m)
	want := map[string]float64{
		`talon_org_phase[org="acme" phase="Deployed"]`:                     1,
		`talon_org_phase[org="acme" phase="Failed"]`:                       0,
		`talon_org_phase[org="acme" phase="Degraded"]`:                     0,
		`talon_org_phase[org="globex" phase="Deployed"]`:                   0,
		`talon_org_phase[org="globex" phase="Failed"]`:                     1,
		`talon_org_phase[org="globex" phase="Degraded"]`:                   0,
		`talon_org_phase[org="initech" phase="Deployed"]`:                  0,
		`talon_org_phase[org="initech" phase="Failed"]`:                    0,
		`talon_org_phase[org="initech" phase="Degraded"]`:                  0,
		`talon_org_phase[org="initech" phase="Rollback"]`:                  1,
		`talon_org_condition[org="acme" status="True" type="Ready"]`:       1,
		`talon_org_condition[org="acme" status="False" type="Ready"]`:      0,
		`talon_org_condition[org="acme" status="True" type="Stalled"]`:     0,
		`talon_org_condition[org="acme" status="False" type="Stalled"]`:    1,
		`talon_org_condition[org="globex" status="True" type="Ready"]`:     0,
		`talon_org_condition[org="globex" status="False" type="Ready"]`:    1,
		`talon_org_condition[org="globex" status="True" type="Stalled"]`:   1,
		`talon_org_condition[org="globex" status="False" type="Stalled"]`:  0,
		`talon_org_condition[org="initech" status="True" type="Ready"]`:    0,
		`talon_org_condition[org="initech" status="False" type="Ready"]`:   1,
		`talon_org_condition[org="initech" status="True" type="Stalled"]`:  0,
		`talon_org_condition[org="initech" status="False" type="Stalled"]`: 1,
	}
	health := matching(got, "talon_org_phase")
	for k, v := range matching(got, "talon_org_condition") {
		health[k] = v
	}
	if diff := cmp.Diff(want, health); diff != "" {
		t.Errorf("org health series (-want +got):\n%s", diff)
	}

	// Read at scrape time: an org that leaves the config leaves no series behind.
	src.set(OrgHealth{Org: "acme", Phase: "Degraded"})
	got = scrape(t, m)
	if n := len(matching(got, "talon_org_phase")); n != 3 {
		t.Errorf("%d phase series for one org and three listed phases, want 3", n)
	}
	if got[`talon_org_phase[org="acme" phase="Degraded"]`] != 1 || got[`talon_org_phase[org="acme" phase="Deployed"]`] != 0 {
		t.Errorf("acme's phase did not follow the source: %v", matching(got, "talon_org_phase"))
	}
	for k := range got {
		if strings.Contains(k, `org="globex"`) || strings.Contains(k, `org="initech"`) {
			t.Errorf("series of an org the source no longer reports: %s", k)
		}
	}
}

// The reconcile series follow Prometheus naming conventions.
func TestReconcileMetricsLint(t *testing.T) {
	m := New(Options{})
	m.ObserveConfigFetch("aaaa", time.Now(), nil)
	m.ObservePass(time.Second)
	m.ObserveOrgReconcile("acme", "PullFailed")
	m.ObserveStatusPublish(nil)
	src := &healthSource{}
	src.set(OrgHealth{Org: "acme", Phase: "Failed"})
	if err := m.RegisterReconciler(src, "Failed"); err != nil {
		t.Fatal(err)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"talon_config_fetch_total", "talon_config_last_success_timestamp_seconds",
		"talon_config_commit_info", "talon_reconcile_duration_seconds", "talon_org_reconcile_total", "talon_org_failures_total",
		"talon_status_publish_total", "talon_org_phase", "talon_org_condition"}
	var ours []*dto.MetricFamily
	for _, f := range fams {
		if slices.Contains(names, f.GetName()) {
			ours = append(ours, f)
		}
	}
	if len(ours) != len(names) {
		t.Fatalf("gathered %d of the %d reconcile metrics", len(ours), len(names))
	}
	problems, err := promlint.NewWithMetricFamilies(ours).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}
