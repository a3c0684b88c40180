package reconciler

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/alerts"
)

// eventKinds maps the config repository's alert event names to the notifier's kinds.
var eventKinds = map[string][]string{
	"deployed":         {alerts.Deployed},
	"deployFailed":     {alerts.Failed, alerts.Recovered},
	"validationFailed": {alerts.Failed},
	"degraded":         {alerts.Degraded},
	"rolledBack":       {alerts.RolledBack},
}

// orgTargets turns the orgs' `alerts:` sections into notifier targets, each limited to
// its org. A URL may come from the Talon process's environment (urlFromEnv), so secrets
// in webhook URLs never live in the config repository.
func orgTargets(cfg *policy.Config) ([]alerts.Target, []error) {
	var out []alerts.Target
	var errs []error
	for _, o := range cfg.Orgs {
		for _, a := range o.Alerts {
			url := a.URL
			if a.URLFromEnv != "" {
				url = os.Getenv(a.URLFromEnv)
			}
			if url == "" {
				errs = append(errs, fmt.Errorf("%s: alert %s: $%s is empty", o.Name, a.Name, a.URLFromEnv))
				continue
			}
			t := alerts.Target{Name: o.Name + "/" + a.Name, URL: url, Orgs: []string{o.Name}}
			for _, e := range a.Events {
				t.Events = append(t.Events, eventKinds[e]...)
			}
			if len(a.Events) > 0 && len(t.Events) == 0 {
				continue // only events Talon does not alert on (retention is in the pipeline log)
			}
			out = append(out, t)
		}
	}
	return out, errs
}

// updateOrgAlerts replaces the notifier of the orgs' own alert targets when they changed.
// The old notifier drains in the background.
func (r *Reconciler) updateOrgAlerts(cfg *policy.Config) {
	targets, errs := orgTargets(cfg)
	for _, err := range errs {
		r.log.Warn("alert target skipped", "err", err)
	}
	r.mu.Lock()
	same := reflect.DeepEqual(targets, r.orgTargets)
	r.mu.Unlock()
	if same {
		return
	}
	var n *alerts.Notifier
	if len(targets) > 0 {
		var err error
		n, err = alerts.New(targets, alerts.WithResults(func(res alerts.Result) {
			if res.Err != nil && res.RetryIn == 0 {
				r.log.Error("alert not delivered", "target", res.Target, "org", res.Org, "kind", res.Kind, "err", res.Err)
			}
		}))
		if err != nil {
			r.log.Error("org alert targets refused; keeping the previous ones", "err", err)
			return
		}
	}
	r.mu.Lock()
	old := r.orgAlerts
	r.orgAlerts, r.orgTargets = n, targets
	r.mu.Unlock()
	if old != nil {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			old.Close(ctx)
		}()
	}
}
