package reconciler

import (
	"context"
	"time"

	"github.com/eaglenotifier/talon/reconciler/gitstatus"
)

// StatusPublisher writes every org's status back to the config repository; a
// *gitstatus.Writer is one. Publish makes at most one commit, and none when nothing
// changed.
type StatusPublisher interface {
	Publish(ctx context.Context, statuses map[string]gitstatus.Status) (commit string, changed bool, err error)
}

// publish sends the status of every org to the configured publisher. A failure is logged
// and retried on the next pass; it never blocks a deploy.
func (r *Reconciler) publish(ctx context.Context, observed string) {
	if r.opts.Status == nil {
		return
	}
	commit, changed, err := r.opts.Status.Publish(ctx, r.statusDocs(observed))
	r.statusDirty.Store(err != nil)
	r.observePublish(err)
	switch {
	case err != nil:
		r.log.Warn("status not written to Git; will retry next pass", "err", err)
	case changed:
		r.log.Info("status committed", "commit", shortCommit(commit))
	}
}

// statusDocs renders the reconciler's state as status files' contents.
func (r *Reconciler) statusDocs(observed string) map[string]gitstatus.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]gitstatus.Status, len(r.orgs))
	unsigned := map[string]bool{}
	if r.cfg != nil {
		for _, o := range r.cfg.Orgs {
			unsigned[o.Name] = o.Trust.AllowUnsigned
		}
	}
	for org, s := range r.orgs {
		st := gitstatus.Status{
			ObservedCommit: observed,
			Desired:        gitstatus.Desired{Reference: s.desired.Reference(), Digest: s.desiredDigest},
			Deployed:       gitstatus.Deployed{Version: s.deployed.Version, Digest: s.deployed.Digest, Since: s.deployed.Since},
			Phase:          gitstatus.Phase(s.phase),
			LastTransition: s.transition,
			Conditions:     conditions(s, unsigned[org], r.now()),
			Validation:     s.validation,
		}
		if s.desired.Repository == "" {
			st.Desired.Reference = ""
		}
		if s.lastErr != nil {
			st.LastError = s.lastErr.Error()
		}
		out[org] = st
	}
	return out
}

// conditions are the Kubernetes-style conditions of one org: Ready, Stalled and, for an
// org that opted out of signature verification, SignatureVerified False on every pass.
func conditions(s *orgState, allowUnsigned bool, now time.Time) []gitstatus.Condition {
	ready := gitstatus.Condition{Type: "Ready", Status: "True", Reason: "Deployed", LastTransition: now,
		Message: "serving " + s.deployed.Version + " (" + s.deployed.Digest + ")"}
	stalledC := gitstatus.Condition{Type: "Stalled", Status: "False", Reason: "Progressing", LastTransition: now}
	if s.suspended {
		ready.Reason, ready.Message = "Suspended", "suspended in the config repo; "+ready.Message
	}
	if s.lastErr != nil {
		ready.Status, ready.Reason, ready.Message = "False", ReasonOf(s.lastErr), s.lastErr.Error()
		if KindOf(s.lastErr) == Stalled {
			stalledC.Status, stalledC.Reason, stalledC.Message = "True", ReasonOf(s.lastErr), "needs a change to the desired state"
		}
	}
	out := []gitstatus.Condition{ready, stalledC}
	if allowUnsigned {
		out = append(out, gitstatus.Condition{Type: "SignatureVerified", Status: "False", Reason: "AllowUnsigned",
			Message: "trust.allowUnsigned is set: models are deployed WITHOUT signature verification", LastTransition: now})
	}
	return out
}
