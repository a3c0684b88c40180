package reconciler

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/eaglenotifier/talon/inference/metrics"
)

// Phases returns every Phase of the state machine, for metrics that give each
// phase a series.
func Phases() []string {
	return []string{string(PhaseTrained), string(PhaseValidating), string(PhaseFailed), string(PhaseDeploying),
		string(PhaseDeployed), string(PhaseMonitoring), string(PhaseStable), string(PhaseDegraded), string(PhaseRollback)}
}

// OrgHealth returns the phase and the Ready and Stalled conditions of every org of the
// config, as the status files show them; it makes a Reconciler a metrics.ReconcileSource.
func (r *Reconciler) OrgHealth() []metrics.OrgHealth {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]metrics.OrgHealth, 0, len(r.orgs))
	for org, s := range r.orgs {
		out = append(out, metrics.OrgHealth{Org: org, Phase: string(s.phase), Ready: s.lastErr == nil,
			Stalled: s.lastErr != nil && KindOf(s.lastErr) == Stalled})
	}
	return out
}

// observeFetch records a fetch of the config repository. A fetch cut short by the end of
// ctx (shutdown) is not counted.
func (r *Reconciler) observeFetch(ctx context.Context, head plumbing.Hash, err error) {
	if r.opts.Metrics == nil || (err != nil && ctx.Err() != nil) {
		return
	}
	r.opts.Metrics.ObserveConfigFetch(head.String(), r.now(), err)
}

// observePass records a pass that did work, begun at start, and drops the reconcile
// series of orgs that left the config.
func (r *Reconciler) observePass(start time.Time) {
	if r.opts.Metrics == nil {
		return
	}
	r.opts.Metrics.ObservePass(time.Since(start))
	r.mu.Lock()
	orgs := slices.Collect(maps.Keys(r.orgs))
	r.mu.Unlock()
	r.opts.Metrics.RetainOrgs(orgs)
}

// observeOrg records the outcome of one org's reconcile; a change held for its deployment
// window is no outcome.
func (r *Reconciler) observeOrg(org string, err error) {
	if r.opts.Metrics == nil {
		return
	}
	if _, waiting := waitUntil(err); waiting {
		return
	}
	reason := ""
	if err != nil {
		reason = ReasonOf(err)
	}
	r.opts.Metrics.ObserveOrgReconcile(org, reason)
}

// observePublish records a status write-back to the config repository.
func (r *Reconciler) observePublish(err error) {
	if r.opts.Metrics != nil {
		r.opts.Metrics.ObserveStatusPublish(err)
	}
}
