package reconciler

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/eaglenotifier/talon/policy"
)

// Promoter commits an automatic promotion (cicd.autoPromote) to the config repository.
// The daemon's is reconciler/promote.Promoter.
type Promoter interface {
	// Promote sets p.Org's model.version to p.Tag in its file on p.Branch and pushes the
	// commit; it returns the commit, or "" when the branch already asked for p.Tag.
	Promote(ctx context.Context, p Promotion) (commit string, err error)
}

// promoteTimeout bounds one org's look for a new tag, its checks and its commit, so that
// a registry or Git server that hangs never holds up the housekeeping of other orgs and
// the reconcile passes after it for long.
const promoteTimeout = 2 * time.Minute

// Promotion is one automatic promotion: what to commit, and the evidence for it.
type Promotion struct {
	Org, File, Tag, Digest, Range, Signer, Branch string
}

// autoPromote looks for a newer version of an org with cicd.autoPromote, at most once a
// PollInterval: the highest tag of the model repository that matches the range, newer
// than the tag the org file names, signed by a key the org trusts (fail closed, as for a
// deploy), and never promoted before (a version that was reverted is not promoted again;
// the next artifact pushed is: the Promoter checks the history every replica shares, and
// orgState.promoted saves this replica that work until the next artifact). It then
// commits the promotion to the review branch or, with to: direct, to the tracked branch.
// Orgs pinned by semver range or digest are skipped: a range already follows new tags, a
// digest is meant not to move.
func (r *Reconciler) autoPromote(ctx context.Context, cfg *policy.Config, o *policy.Org) {
	p := o.CICD.AutoPromote
	if p == nil || r.opts.Promoter == nil || o.Model.Kind() != policy.ByTag || !r.promoteDue(o.Name) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, promoteTimeout)
	defer cancel()
	log := r.log.With("org", o.Name, "range", p.Semver, "version", o.Model.Version)
	current, err := semver.StrictNewVersion(strings.TrimPrefix(o.Model.Version, "v"))
	if err != nil {
		log.Debug("automatic promotion skipped: the org's version is not a semantic version")
		return
	}
	tags, err := r.reg.ListTags(ctx, o.Model.Repository)
	if err != nil {
		log.Warn("automatic promotion: cannot list tags", "err", err)
		return
	}
	tag, err := policy.ResolveSemver(p.Semver, tags)
	if errors.Is(err, policy.ErrNoMatchingTag) {
		return
	} else if err != nil {
		log.Warn("automatic promotion: bad range", "err", err)
		return
	}
	if v, err := semver.StrictNewVersion(strings.TrimPrefix(tag, "v")); err != nil || !v.GreaterThan(current) {
		return
	}
	ref := o.Model.WithTag(tag)
	d, err := r.reg.Resolve(ctx, ref.Reference())
	if err != nil {
		log.Warn("automatic promotion: cannot resolve the new tag", "tag", tag, "err", err)
		return
	}
	log = log.With("tag", tag, "digest", d.DigestStr())
	var done bool
	r.setState(o.Name, func(s *orgState) { done = s.promoted == d.DigestStr() })
	if done {
		log.Debug("automatic promotion skipped: this artifact was promoted once already")
		return
	}
	run := &orgRun{org: o, cfg: cfg, digest: d, log: log}
	if err := r.verify(ctx, run); err != nil {
		log.Warn("automatic promotion refused: the new tag's signature does not verify", "err", err)
		return
	}
	branch := r.mirror.Branch()
	if p.To != "direct" {
		branch = p.Branch
	}
	commit, err := r.opts.Promoter.Promote(ctx, Promotion{Org: o.Name, File: o.File, Tag: tag, Digest: d.DigestStr(),
		Range: p.Semver, Signer: run.signer, Branch: branch})
	if err != nil {
		log.Error("automatic promotion failed", "branch", branch, "err", err)
		return
	}
	r.setState(o.Name, func(s *orgState) { s.promoted = d.DigestStr() })
	if commit == "" {
		log.Info("automatic promotion already made (the branch asks for this version, or its history holds this artifact's promotion)", "branch", branch)
		return
	}
	log.Info("promoted a new version", "branch", branch, "to", p.To, "commit", shortCommit(commit), "signer", run.signer)
	if branch == r.mirror.Branch() {
		r.Trigger() // deploy it now rather than at the next poll
	}
}

// promoteDue reports whether the org's next look for a new tag is due, and if so sets
// the one after, a PollInterval away.
func (r *Reconciler) promoteDue(org string) bool {
	now, due := r.now(), false
	r.setState(org, func(s *orgState) {
		if !now.Before(s.promoteNext) {
			due, s.promoteNext = true, now.Add(jitter(r.opts.PollInterval))
		}
	})
	return due
}
