package daemon_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestReconcileMetrics: Prometheus sees what the reconciler does without anyone reading
// logs: a deployed org and a failed one with its reason, fetches and status write-backs;
// then, with the config repository gone from its server, failing fetches and a
// last-success time that stands still while the deployed model keeps serving.
func TestReconcileMetrics(t *testing.T) {
	w := newDaemonWorld(t)
	var head string
	for _, org := range []string{"acme", "globex"} {
		w.pushModel(org, "v1")
		head = w.desire(org, "v1")
	}
	base, _ := start(t, w.RepoURL, t.TempDir(), keyDir(t, "acme")) // globex has no key: its pull fails closed
	await(t, base, "acme", "v1")

	got := awaitMetrics(t, base, "globex failed and status written", func(m samples) bool {
		return m[`talon_org_phase{org="globex",phase="Failed"}`] == 1 && m[`talon_status_publish_total{result="success"}`] >= 1
	})
	if p := currentPhases(got, "acme"); len(p) != 1 || (p[0] != "Deployed" && p[0] != "Monitoring") {
		t.Errorf("acme's current phases = %v, want one of Deployed, Monitoring", p)
	}
	for k, want := range map[string]float64{
		`talon_config_commit_info{commit="` + head + `"}`:                1,
		`talon_config_fetch_total{result="error"}`:                       0,
		`talon_org_reconcile_total{org="acme",result="success"}`:         1,
		`talon_org_condition{org="acme",status="True",type="Ready"}`:     1,
		`talon_org_condition{org="globex",status="False",type="Ready"}`:  1,
		`talon_org_condition{org="globex",status="True",type="Stalled"}`: 1,
		`talon_org_failures_total{org="globex",reason="KeyUnavailable"}`: 1,
		`talon_org_reconcile_total{org="globex",result="failed"}`:        1,
		`talon_status_publish_total{result="error"}`:                     0,
	} {
		if g, ok := got[k]; !ok || g != want {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, want)
		}
	}
	if got[`talon_config_fetch_total{result="success"}`] < 1 || got[`talon_reconcile_duration_seconds_count`] < 1 {
		t.Errorf("fetches %v, passes %v; want at least one of each",
			got[`talon_config_fetch_total{result="success"}`], got[`talon_reconcile_duration_seconds_count`])
	}

	// The config repository is gone from its server: every fetch fails.
	if err := os.Rename(w.Bare, w.Bare+".offline"); err != nil {
		t.Fatal(err)
	}
	down := awaitMetrics(t, base, "a failed fetch", func(m samples) bool { return m[`talon_config_fetch_total{result="error"}`] >= 1 })
	later := awaitMetrics(t, base, "three more failed fetches", func(m samples) bool {
		return m[`talon_config_fetch_total{result="error"}`] >= down[`talon_config_fetch_total{result="error"}`]+3
	})
	last := `talon_config_last_success_timestamp_seconds`
	if down[last] <= 0 || later[last] != down[last] {
		t.Errorf("last successful fetch at %v, then %v; want the same time > 0", down[last], later[last])
	}
	if s := `talon_config_fetch_total{result="success"}`; later[s] != down[s] {
		t.Errorf("successful fetches went from %v to %v with the config repo down", down[s], later[s])
	}
	if c := later[`talon_config_commit_info{commit="`+head+`"}`]; c != 1 {
		t.Errorf("commit info of %s = %v, want 1 (the last commit read)", head, c)
	}
	if later[`talon_org_condition{org="acme",status="True",type="Ready"}`] != 1 {
		t.Error("acme is not Ready while the config repo is down; it keeps serving")
	}
	await(t, base, "acme", "v1")
}

// samples are a scrape's series as `name{label="value",...}` (labels sorted) → value;
// a histogram gives name_count.
type samples map[string]float64

func scrapeMetrics(base string) (samples, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	out := samples{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(ls)
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[strings.Replace(key, name, name+"_count", 1)] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out, nil
}

// awaitMetrics scrapes until ok holds; the bound only stops a broken run from hanging.
func awaitMetrics(t *testing.T, base, what string, ok func(samples) bool) samples {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := scrapeMetrics(base)
		if err == nil && ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %s (last scrape error: %v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// currentPhases returns the phases whose talon_org_phase series of org is 1.
func currentPhases(m samples, org string) []string {
	var out []string
	for k, v := range m {
		if rest, ok := strings.CutPrefix(k, `talon_org_phase{org="`+org+`",phase="`); ok && v == 1 {
			out = append(out, strings.TrimSuffix(rest, `"}`))
		}
	}
	return out
}
