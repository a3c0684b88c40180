package reconciler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/alerts"
	"github.com/eaglenotifier/talon/reconciler/store"
)

// Reverter commits a revert of the commit that last changed org's desired model, when the
// org still desires ifVersion (as written in its file), with evidence in the message. The
// daemon's implementation is reconciler/rollback.Revert against the config repository.
type Reverter interface {
	Revert(ctx context.Context, org, ifVersion, evidence string) (commit string, err error)
}

// CheckHealth judges every serving org's monitoring window with the policy's degradation
// decision and moves it through Monitoring → Stable | Degraded. A Degraded org with
// monitoring.autoRollback is rolled back: its digest is quarantined, so it is not deployed
// again until the desired state names another one, and a revert of the deploying commit
// is committed with the evidence. Run calls it after every pass and every MonitorInterval.
func (r *Reconciler) CheckHealth(ctx context.Context) {
	cfg := r.lastConfig()
	if r.opts.Monitor == nil || cfg == nil {
		return
	}
	for _, o := range cfg.Orgs {
		info, _, ok := r.cache.Get(o.Name)
		if !ok || o.Suspend {
			continue
		}
		m := o.Monitoring
		intervals, _ := r.opts.Monitor.Intervals(o.Name, info.Version)
		samples := make([]policy.Sample, len(intervals))
		for i, in := range intervals {
			samples[i] = policy.Sample{At: in.End, Requests: int(in.Samples), Errors: int(in.Errors),
				P99Latency: in.P99, Labeled: int(in.Feedback), Correct: int(in.Correct)}
		}
		v := policy.Degradation(m, samples, r.now())
		r.judge(ctx, o, info.Version, info.Digest, v)
	}
}

// judge applies one verdict to an org serving version at digest.
func (r *Reconciler) judge(ctx context.Context, o *policy.Org, version, digest string, v policy.Verdict) {
	now := r.now()
	var degradedNow bool
	r.setState(o.Name, func(s *orgState) {
		if !s.applied || s.deployed.Digest != digest {
			return
		}
		switch {
		case v.Health == policy.Degraded:
			degradedNow = s.phase != PhaseDegraded && s.phase != PhaseRollback
			if degradedNow {
				s.setPhase(PhaseDegraded, now)
			}
		case v.Health == policy.Stable && !v.Pending:
			s.setPhase(PhaseStable, now)
			s.lastGood = s.deployed.Version
		default:
			s.setPhase(PhaseMonitoring, now)
		}
	})
	if !degradedNow {
		return
	}
	evidence := evidenceOf(o, version, digest, v)
	r.log.Warn("model degraded", "org", o.Name, "version", version, "digest", digest, "evidence", evidence)
	r.alert(alerts.Event{Org: o.Name, Kind: alerts.Degraded, Version: version, Digest: digest, Reason: "Degraded", Evidence: map[string]any{"checks": evidence}})
	if !o.Monitoring.AutoRollback || r.opts.Reverter == nil {
		return
	}
	r.setState(o.Name, func(s *orgState) { s.quarantined = digest; s.setPhase(PhaseRollback, now) })
	if err := r.store.Refuse(ctx, o.Name, store.Refusal{Digest: digest, Reason: "degraded; rolled back", At: now}); err != nil {
		r.log.Error("cannot record the quarantine on disk; a restart would forget it", "org", o.Name, "digest", digest, "err", err)
	}
	ifVersion := o.Model.Version + o.Model.Semver + o.Model.Digest // exactly one is set
	commit, err := r.opts.Reverter.Revert(ctx, o.Name, ifVersion, evidence)
	if err != nil {
		r.log.Error("auto-rollback failed; the degraded model keeps serving until a person acts", "org", o.Name, "digest", digest, "err", err)
		r.setState(o.Name, func(s *orgState) { s.lastErr = stalled("rollback", "RollbackFailed", err) })
		r.alert(alerts.Event{Org: o.Name, Kind: alerts.Failed, Version: version, Digest: digest, Reason: "RollbackFailed: " + err.Error()})
		return
	}
	r.log.Warn("auto-rollback committed", "org", o.Name, "digest", digest, "revert", shortCommit(commit))
	r.alert(alerts.Event{Org: o.Name, Kind: alerts.RolledBack, Version: version, Digest: digest, Commit: commit, Reason: "Degraded", Evidence: map[string]any{"checks": evidence}})
	r.Trigger()
}

// evidenceOf is the auto-rollback's evidence: the window, each check against its limit and
// the digest, for the revert commit's message.
func evidenceOf(o *policy.Org, version, digest string, v policy.Verdict) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Talon auto-rollback: %s %s (%s) degraded", o.Name, version, digest)
	if !v.Since.IsZero() {
		fmt.Fprintf(&b, " since %s", v.Since.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, ".\nWindow %s, degradedFor %s, %d requests:", policy.FormatDuration(o.Monitoring.Window), policy.FormatDuration(o.Monitoring.DegradedFor), v.Requests)
	for _, c := range v.Checks {
		verdict := "ok"
		if !c.Pass {
			verdict = "BREACHED"
		}
		fmt.Fprintf(&b, "\n- %s: %s (limit %s) %s", c.Name, c.Observed, c.Limit, verdict)
	}
	return b.String()
}

// alert sends ev to the process's alert targets and to the org's own.
func (r *Reconciler) alert(ev alerts.Event) {
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	r.mu.Lock()
	org := r.orgAlerts
	r.mu.Unlock()
	for _, n := range []*alerts.Notifier{r.opts.Alerts, org} {
		if n == nil {
			continue
		}
		if err := n.Send(ev); err != nil {
			r.log.Warn("alert not queued", "org", ev.Org, "kind", ev.Kind, "err", err)
		}
	}
}
