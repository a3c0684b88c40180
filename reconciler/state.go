package reconciler

import (
	"time"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/alerts"
)

// Phase is where an org stands in Talon's deployment state machine:
// Trained → Validating → (Failed | Deploying) → Deployed → Monitoring →
// (Stable | Degraded → Rollback → Deployed).
type Phase string

// The phases of the state machine.
const (
	PhaseTrained    Phase = "Trained"
	PhaseValidating Phase = "Validating"
	PhaseFailed     Phase = "Failed"
	PhaseDeploying  Phase = "Deploying"
	PhaseDeployed   Phase = "Deployed"
	PhaseMonitoring Phase = "Monitoring"
	PhaseStable     Phase = "Stable"
	PhaseDegraded   Phase = "Degraded"
	PhaseRollback   Phase = "Rollback"
)

// orgState is what the reconciler knows and last did for one org. Guarded by Reconciler.mu.
type orgState struct {
	desired       policy.ModelRef
	desiredDigest string // what desired resolved to in the last attempt
	fingerprint   string // hash of the org's file: a change is a new desired state
	commit        string // config commit of the last attempt
	phase         Phase
	transition    time.Time // when phase last changed
	applied       bool      // the desired state is serving
	lastErr       error     // why it is not, when it is not
	attempts      int       // consecutive transient failures
	nextAttempt   time.Time // no retry before this
	deployed      Deployed
	announced     string    // the deployed digest last announced with a Deployed alert
	suspended     bool      // the org file says suspend: true
	quarantined   string    // a digest auto-rollback refused; not deployed again until desired changes
	validation    any       // the last quality-gate summary, for status
	lastGood      string    // the last version that served Stable, or was replaced without trouble
	retentionNext time.Time // when retention is next due
	promoteNext   time.Time // when automatic promotion next looks for a new tag
	promoted      string    // the digest automatic promotion last committed or found committed
	at            time.Time
}

// Deployed is the version an org serves and since when.
type Deployed struct {
	Version, Digest, ConfigCommit string
	Since                         time.Time
}

func (s *orgState) setPhase(p Phase, now time.Time) {
	if s.phase != p {
		s.phase, s.transition = p, now
	}
}

// OrgStatus is the reconciler's view of one org, for logs, tests and status.
type OrgStatus struct {
	Desired     policy.ModelRef
	Commit      string
	Phase       Phase
	Transition  time.Time
	Applied     bool
	Err         error
	Attempts    int
	NextAttempt time.Time
	Deployed    Deployed
	Suspended   bool
	At          time.Time
}

// Status returns the state of every org the reconciler has seen.
func (r *Reconciler) Status() map[string]OrgStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]OrgStatus, len(r.orgs))
	for org, s := range r.orgs {
		out[org] = OrgStatus{
			Desired: s.desired, Commit: s.commit, Phase: s.phase, Transition: s.transition,
			Applied: s.applied, Err: s.lastErr, Attempts: s.attempts, NextAttempt: s.nextAttempt,
			Deployed: s.deployed, Suspended: s.suspended, At: s.at,
		}
	}
	return out
}

func (r *Reconciler) setState(org string, f func(*orgState)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.orgs[org]
	if !ok {
		s = &orgState{phase: PhaseTrained, transition: r.now()}
		r.orgs[org] = s
	}
	f(s)
}

// needsWork reports whether org must be reconciled now for the desired state with the
// given file fingerprint: it is new or changed, or it failed transiently and its backoff
// has passed. A stalled org waits for its desired state to change.
func (r *Reconciler) needsWork(o *policy.Org, fingerprint string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.orgs[o.Name]
	switch {
	case !ok || s.fingerprint != fingerprint || s.desired != o.Model:
		return true
	case s.applied:
		return false
	case KindOf(s.lastErr) == Stalled:
		return false
	}
	return !r.now().Before(s.nextAttempt)
}

// anyPending reports whether some org waits for a transient retry.
func (r *Reconciler) anyPending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.orgs {
		if !s.applied && s.lastErr != nil && KindOf(s.lastErr) == Transient {
			return true
		}
	}
	return false
}

// record stores the outcome of one org's reconcile and raises the alerts its transition
// calls for: Failed when an org starts failing, Recovered when it serves again after a
// failure, Deployed when it serves a new digest.
func (r *Reconciler) record(o *policy.Org, fingerprint, commit string, err error) {
	now := r.now()
	var kinds []string
	var dep Deployed
	r.setState(o.Name, func(s *orgState) {
		if s.fingerprint != fingerprint || s.desired != o.Model {
			s.attempts = 0
		}
		_, wasWaiting := waitUntil(s.lastErr)
		wasFailing := s.lastErr != nil && !wasWaiting
		s.desired, s.fingerprint, s.commit, s.lastErr, s.at = o.Model, fingerprint, commit, err, now
		s.suspended = false
		s.applied = err == nil
		dep = s.deployed
		if err == nil {
			s.attempts, s.nextAttempt = 0, time.Time{}
			if wasFailing {
				kinds = append(kinds, alerts.Recovered)
			}
			if s.deployed.Digest != s.announced {
				s.announced = s.deployed.Digest
				kinds = append(kinds, alerts.Deployed)
			}
			return
		}
		if until, waiting := waitUntil(err); waiting {
			s.nextAttempt = until
			return
		}
		s.setPhase(PhaseFailed, now)
		if !wasFailing {
			kinds = append(kinds, alerts.Failed)
		}
		if KindOf(err) == Transient {
			s.attempts++
			s.nextAttempt = now.Add(r.opts.Backoff.Delay(s.attempts))
		}
	})
	for _, k := range kinds {
		ev := alerts.Event{Org: o.Name, Kind: k, Version: dep.Version, Digest: dep.Digest, Commit: commit, Time: now}
		if err != nil {
			ev.Version, ev.Digest, ev.Reason = o.Model.Version, "", ReasonOf(err)+": "+err.Error()
		}
		r.alert(ev)
	}
}

// suspend records that org is suspended: nothing is reconciled, what is deployed keeps
// serving, and status says so.
func (r *Reconciler) suspend(o *policy.Org, commit string) {
	now := r.now()
	r.setState(o.Name, func(s *orgState) {
		if !s.suspended {
			r.log.Info("org suspended; keeping what it serves", "org", o.Name, "commit", shortCommit(commit))
		}
		s.suspended, s.desired, s.fingerprint, s.commit, s.at = true, o.Model, "", commit, now
	})
}
