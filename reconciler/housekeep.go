package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/store"
)

// Housekeep looks after every serving org's store: it detects a deployed directory that
// was changed or removed behind Talon's back and restores it from the store, and it
// applies the org's retention policy on its cron schedule, deleting stored versions (never
// the deployed or the last known-good one) with the rules that condemned them, and it
// looks for a version to promote (cicd.autoPromote, see autoPromote). Run calls
// it every MonitorInterval, between reconcile passes, so it never overlaps an org's deploy.
func (r *Reconciler) Housekeep(ctx context.Context) {
	cfg := r.lastConfig()
	if cfg == nil {
		return
	}
	status := r.Status()
	for _, o := range cfg.Orgs {
		st, ok := status[o.Name]
		if !ok || st.Deployed.Digest == "" || o.Suspend {
			continue
		}
		r.checkDrift(ctx, o, st.Deployed)
		r.retention(ctx, o, st)
		r.autoPromote(ctx, cfg, o)
	}
}

// checkDrift verifies models/<org>/deployed against the store and repairs it.
func (r *Reconciler) checkDrift(ctx context.Context, o *policy.Org, dep Deployed) {
	log := r.log.With("org", o.Name, "version", dep.Version, "digest", dep.Digest)
	rep, err := r.store.CheckDeployed(ctx, o.Name, dep.Version, dep.Digest)
	if err != nil {
		log.Warn("cannot check the deployed directory for drift", "err", err)
		return
	}
	if rep.Clean() {
		return
	}
	log.Warn("drift detected: the deployed directory changed behind Talon's back", "drift", rep.String())
	err = r.store.RepairDeployed(ctx, o.Name, dep.Version, dep.ConfigCommit, store.PlaintextDeploy(o.PlaintextDeploy))
	if err == nil {
		log.Info("drift repaired from the store", "drift", rep.String())
		return
	}
	log.Error("drift not repairable from the store; pulling again", "err", err)
	if errors.Is(err, store.ErrCorrupt) {
		if dir, qerr := r.store.Quarantine(ctx, o.Name, dep.Version); qerr == nil {
			log.Warn("corrupt stored copy quarantined", "quarantine", dir)
		}
	}
	r.setState(o.Name, func(s *orgState) {
		s.applied, s.lastErr = false, transient("drift", "DriftRepairFailed", fmt.Errorf("deployed directory of %s drifted (%s): %w", o.Name, rep.String(), err))
		s.deployed.Digest = "" // not what the cache serves on disk any more: redeploy
	})
}

// retention applies the org's retention policy when its schedule is due.
func (r *Reconciler) retention(ctx context.Context, o *policy.Org, st OrgStatus) {
	sched, err := o.Retention.Schedule.Parse()
	if err != nil {
		return // the loader refuses bad schedules; an empty one means no retention
	}
	now := r.now()
	due := false
	var lastGood string
	r.setState(o.Name, func(s *orgState) {
		if s.retentionNext.IsZero() {
			s.retentionNext = sched.Next(now)
		}
		if !now.Before(s.retentionNext) {
			due, s.retentionNext = true, sched.Next(now)
		}
		lastGood = s.lastGood
	})
	if !due {
		return
	}
	vs, err := r.store.Versions(o.Name)
	if err != nil {
		r.log.Warn("retention skipped", "org", o.Name, "err", err)
		return
	}
	run := r.pipeRun(o.Name, st.Deployed.ConfigCommit)
	stage := run.Stage("retention")
	deleted := 0
	dels := policy.Retain(o.Retention, store.RetentionInput(vs, lastGood, now))
	r.log.Debug("retention decision", "org", o.Name, "deletions", len(dels), "lastGood", lastGood, "versions", len(vs))
	for _, d := range dels {
		err := r.store.Delete(ctx, o.Name, d.Version, store.Protect(lastGood, st.Deployed.Version, st.Desired.Version))
		switch {
		case err == nil:
			deleted++
			r.log.Info("retention deleted a stored version", "org", o.Name, "version", d.Version, "digest", d.Digest, "reasons", reasonsText(d.Reasons))
		case errors.Is(err, store.ErrProtected), errors.Is(err, store.ErrNotFound):
		default:
			r.log.Warn("retention could not delete a version", "org", o.Name, "version", d.Version, "err", err)
		}
	}
	stage.Done(nil, slog.Int("deleted", deleted))
	if e := run.End(nil); e != nil {
		r.log.Warn("pipeline log", "org", o.Name, "err", e)
	}
}

func reasonsText(rs []policy.Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Rule + ": " + r.Detail
	}
	return out
}
