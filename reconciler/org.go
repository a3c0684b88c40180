package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/gitops"
	"github.com/eaglenotifier/talon/reconciler/pipelog"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
)

// orgRun is one reconcile of one org: what each step found, for the steps after it.
type orgRun struct {
	org    *policy.Org
	cfg    *policy.Config
	snap   *gitops.Snapshot
	commit string
	log    *slog.Logger

	subject      string // the config commit's subject (a rollback starts with `Revert "`)
	version      string // the store's version key: the tag, or sha256-<hex> for a digest pin
	offline      bool   // resolved from the store because the registry was unreachable
	storedSigner string // the signer recorded with the stored copy, for offline checks
	signer       string // fingerprint of the key that verified the digest
	dataset      []byte // the artifact's validation set, when pulled with it
	backup       chan backupResult
	staged       chan stagedResult
	gateRecord   *GateRecord

	digest    name.Digest
	bytes     []byte
	rec       store.Record
	fromStore bool
	preload   chan loadResult // the load obtain started once the pulled bytes were verified
	model     *inference.Model
	done      bool      // the org already serves the desired digest
	swapStart time.Time // when deploy began, for the swap duration metric
}

type step struct {
	name string
	fn   func(context.Context, *orgRun) error
}

// reconcileOrg brings one org to its desired model, in small steps that stop at the first
// error: resolve the tag to a digest once, take the bytes from the store or pull that
// digest, load and warm up the model, check it keeps the serving signature, publish the
// deployed symlink, then hot-swap it into the serving cache. Until the swap the org keeps
// serving its last good model.
func (r *Reconciler) reconcileOrg(ctx context.Context, cfg *policy.Config, snap *gitops.Snapshot, o *policy.Org) (err error) {
	commit := snap.Commit().Hash.String()
	run := &orgRun{org: o, cfg: cfg, snap: snap, commit: commit, subject: snap.Commit().Subject, log: r.log.With("org", o.Name, "reference", o.Model.String(), "commit", shortCommit(commit))}
	steps := []step{
		{pipelog.Resolve, r.resolve},
		{pipelog.Verify, r.verify},
		{pipelog.Pull, r.obtain},
		{pipelog.Validate, r.load},
		{"gate", r.gate},
		{"window", r.window},
		{pipelog.Deploy, r.deploy},
		{pipelog.Swap, r.swap},
	}
	plog := r.pipeRun(o.Name, commit)
	defer run.waitBackup()
	defer run.dropPreload()
	defer run.dropStaged()
	defer func() {
		if e := plog.End(err, slog.String("digest", run.digest.DigestStr()), slog.String("version", run.version)); e != nil {
			run.log.Warn("pipeline log", "err", e)
		}
	}()
	start := time.Now()
	for _, s := range steps {
		if run.done {
			plog.Stage(s.name).Skip("already serving this digest")
			continue
		}
		r.setState(o.Name, func(st *orgState) { st.setPhase(phaseOf(s.name), r.now()) })
		if r.opts.BeforeStep != nil {
			r.opts.BeforeStep(o.Name, s.name)
		}
		stage := plog.Stage(s.name)
		err := s.fn(ctx, run)
		if s.name == pipelog.Pull && err == nil {
			r.startBackup(ctx, run)
			r.startPrepare(ctx, run)
		}
		stage.Done(err, slog.String("digest", run.digest.DigestStr()))
		if until, ok := waitUntil(err); ok {
			if run.model != nil {
				run.model.Close()
			}
			run.log.Info("change held until the deployment window opens", "digest", run.digest.DigestStr(), "opens", until)
			return err
		}
		if err != nil {
			if run.model != nil {
				run.model.Close()
			}
			run.log.Error("reconcile failed; keeping the last good model", "step", s.name,
				"digest", run.digest.DigestStr(), "kind", KindOf(err).String(), "err", err)
			return err
		}
	}
	if !run.done {
		run.log.Info("deployed", "digest", run.digest.DigestStr(), "version", run.version, "signer", run.signer,
			"from_store", run.fromStore, "size", run.rec.Size, "duration", time.Since(start).String())
	}
	return nil
}

// pipeRun starts the org's pipeline-log run; a nil run (no log, or a log error) writes
// nothing and never stops a reconcile.
func (r *Reconciler) pipeRun(org, commit string) *pipelog.Run {
	if r.opts.PipeLog == nil {
		return nil
	}
	run, err := r.opts.PipeLog.Start(org, commit)
	if err != nil {
		r.log.Warn("pipeline log", "org", org, "err", err)
		return nil
	}
	return run
}

func phaseOf(step string) Phase {
	switch step {
	case pipelog.Deploy, pipelog.Swap, "window":
		return PhaseDeploying
	}
	return PhaseValidating
}

// obtain reads the model of run.digest from the store when the same version with the
// same digest is there (checked against its recorded sha256), and otherwise pulls that
// digest, verified while streaming into the store.
func (r *Reconciler) obtain(ctx context.Context, run *orgRun) error {
	o, digest := run.org, run.digest.DigestStr()
	if err := r.store.CheckKey(o.Name); err != nil {
		return stalled("pull", "KeyUnavailable", fmt.Errorf("%s: %w", o.Name, err))
	}
	if _, err := r.store.Lookup(o.Name, run.version); errors.Is(err, store.ErrNotFound) {
		if rerr := r.store.RestoreBackup(ctx, o.Name, run.version); rerr == nil {
			run.log.Info("restored this version from backups", "version", run.version)
		}
	}
	if rec, err := r.store.Lookup(o.Name, run.version); err == nil && rec.Digest == digest {
		b, rec, err := r.store.ReadModel(o.Name, run.version)
		switch {
		case err == nil:
			run.bytes, run.rec, run.fromStore = b, rec, true
			return nil
		case errors.Is(err, store.ErrCorrupt):
			dir, qerr := r.store.Quarantine(ctx, o.Name, run.version)
			if qerr != nil {
				return stalled("pull", "StoreFailed", fmt.Errorf("quarantine corrupt %s/%s: %w", o.Name, run.version, qerr))
			}
			run.log.Warn("stored copy corrupt; quarantined it and pulling again", "digest", digest, "quarantine", dir, "err", err)
		case errors.Is(err, store.ErrKeyUnavailable):
			return stalled("pull", "KeyUnavailable", err)
		default:
			run.log.Warn("stored copy unusable; pulling again", "digest", digest, "err", err)
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return stalled("pull", "StoreFailed", err)
	}
	if run.offline {
		return transient("pull", "PullFailed", fmt.Errorf("registry unreachable and no usable stored copy of %s", run.digest))
	}
	ref := o.Model.String()
	art, err := r.reg.Fetch(ctx, run.digest)
	if err != nil {
		return pullError(fmt.Errorf("fetch manifest %s@%s: %w", ref, digest, err))
	}
	if art.Dataset != nil && gateConfigured(o.Validation) && o.Validation.Dataset.From != "repo" {
		if run.dataset, _, err = readDataset(ctx, art.OpenDataset); err != nil {
			return pullError(fmt.Errorf("read dataset of %s@%s: %w", ref, digest, err))
		}
	}
	var meta []byte
	if art.Metadata != nil {
		if meta, err = art.ReadMetadata(ctx); err != nil {
			return pullError(fmt.Errorf("read metadata of %s@%s: %w", ref, digest, err))
		}
	}
	rc, err := art.OpenModel(ctx)
	if err != nil {
		return pullError(fmt.Errorf("pull model layer of %s@%s: %w", ref, digest, err))
	}
	defer rc.Close()
	rec := store.Record{
		Org: o.Name, Version: run.version, Repository: o.Model.Repository, Digest: digest,
		ModelDigest: art.Model.Digest.String(), Format: string(art.Format), ConfigCommit: run.commit, Metadata: meta,
		Signer: run.signer,
	}
	// The plaintext is kept in memory while it streams into the store, so it needs no
	// second decrypt-and-hash to be loaded. Its one sha256 check is the registry reader's
	// (Put relies on it: store.VerifyingReader), done before Put calls back: only then
	// does the load start, while Put fsyncs and renames. Deploy runs after this step, so
	// never before the version is durably stored.
	plain := make([]byte, art.Model.Size) // the registry reader returns exactly Size bytes
	preload := func() { run.preload = r.startLoad(ctx, run, plain) }
	if rec, err = r.store.Put(ctx, rec, rc, store.ReadInto(plain), store.OnVerified(preload)); err != nil {
		run.dropPreload()
		return pullError(fmt.Errorf("pull %s@%s: %w", ref, digest, err))
	}
	run.bytes, run.rec = plain, rec
	return nil
}

// pullError classifies a pull failure: an artifact that is not a usable model needs a
// person; corrupted or short bytes and network trouble are retried.
func pullError(err error) error {
	switch {
	case errors.Is(err, registry.ErrNotModel), errors.Is(err, registry.ErrUnsafeFilename),
		errors.Is(err, registry.ErrTooLarge), errors.Is(err, registry.ErrInsecure):
		return stalled("pull", "InvalidArtifact", err)
	case errors.Is(err, registry.ErrDigestMismatch), errors.Is(err, registry.ErrSizeMismatch):
		return transient("pull", "DigestMismatch", err)
	}
	return transient("pull", "PullFailed", err)
}

// load creates and warms up an ONNX Runtime session for the candidate (or takes the one
// obtain started loading) and checks that it keeps the serving model's inputs and outputs.
func (r *Reconciler) load(ctx context.Context, run *orgRun) error {
	o, digest := run.org, run.digest.DigestStr()
	var m *inference.Model
	var err error
	if run.preload != nil {
		res := <-run.preload
		run.preload = nil
		m, err = res.model, res.err
	} else {
		m, err = r.loadModel(ctx, run, run.bytes)
	}
	if err != nil {
		return stalled("load", "LoadFailed", fmt.Errorf("load %s@%s into ONNX Runtime: %w", o.Model, digest, err))
	}
	run.model = m
	if _, sig, ok := r.cache.Get(o.Name); ok {
		if err := sig.Compare(m.Signature()); err != nil {
			return stalled("load", "SchemaChanged", fmt.Errorf("%s@%s changes the serving model's inputs/outputs: %w", o.Model, digest, err))
		}
	}
	return nil
}

// loadModel loads onnx, the candidate's verified bytes, into ONNX Runtime.
func (r *Reconciler) loadModel(ctx context.Context, run *orgRun, onnx []byte) (*inference.Model, error) {
	info := inference.ModelInfo{Org: run.org.Name, Version: run.version, Digest: run.digest.DigestStr(), ConfigCommit: run.commit}
	start := time.Now()
	m, err := inference.LoadModel(ctx, onnx, info, r.opts.Load)
	if r.opts.Metrics != nil {
		r.opts.Metrics.ObserveLoad(run.org.Name, time.Since(start), err)
	}
	return m, err
}

// deploy keeps the outgoing version in backups/<org>/ and publishes the candidate as the
// org's deployed version on disk, durably: the deploy dir was built while the candidate
// loaded (startPrepare), so only the symlink swap is left. A failed backup is logged,
// never blocking.
func (r *Reconciler) deploy(ctx context.Context, run *orgRun) error {
	run.swapStart = time.Now()
	if b := run.waitBackup(); b.err != nil {
		if ctx.Err() != nil {
			return transient("deploy", "DeployInterrupted", ctx.Err())
		}
		run.log.Warn("outgoing version not backed up", "err", b.err)
	} else if b.version != "" {
		run.log.Debug("outgoing version backed up", "backup", b.version)
	}
	st := run.waitStaged()
	err := st.err
	if err == nil {
		err = st.staged.Publish(ctx)
	}
	if err != nil {
		return transient("deploy", "DeployFailed", fmt.Errorf("deploy %s@%s: %w", run.org.Model, run.digest.DigestStr(), err))
	}
	return nil
}

// swap hot-swaps the candidate into the serving cache; the old model drains and closes.
func (r *Reconciler) swap(_ context.Context, run *orgRun) error {
	r.cache.Swap(run.org.Name, run.model)
	run.model = nil
	if r.opts.Metrics != nil {
		r.opts.Metrics.ObserveSwap(run.org.Name, time.Since(run.swapStart))
	}
	now := r.now()
	r.setState(run.org.Name, func(s *orgState) {
		if s.deployed.Version != "" && s.phase != PhaseDegraded && s.phase != PhaseRollback && s.quarantined != s.deployed.Digest {
			s.lastGood = s.deployed.Version // replaced while serving without trouble
		}
		s.deployed = Deployed{Version: run.rec.Version, Digest: run.digest.DigestStr(), ConfigCommit: run.commit, Since: now}
		s.setPhase(PhaseDeployed, now)
	})
	return nil
}

// Restore loads every org's deployed model from the store into the serving cache, so a
// restarted Talon serves its last good models before it reaches Git or the registry.
func (r *Reconciler) Restore(ctx context.Context) error {
	orgs, err := r.store.Orgs()
	if err != nil {
		return err
	}
	for _, org := range orgs {
		if ref, err := r.store.Refused(org); err == nil {
			r.setState(org, func(s *orgState) { s.quarantined = ref.Digest })
			r.log.Info("digest still quarantined", "org", org, "digest", ref.Digest, "reason", ref.Reason, "since", ref.At)
		}
		b, rec, dep, err := r.store.Deployed(org)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			r.log.Error("cannot restore deployed model", "org", org, "err", err)
			continue
		}
		info := inference.ModelInfo{Org: org, Version: rec.Version, Digest: rec.Digest, ConfigCommit: dep.ConfigCommit}
		m, err := inference.LoadModel(ctx, b, info, r.opts.Load)
		if err != nil {
			r.log.Error("cannot load deployed model", "org", org, "version", rec.Version, "digest", rec.Digest, "err", err)
			continue
		}
		r.cache.Swap(org, m)
		r.setState(org, func(s *orgState) {
			s.commit, s.applied = dep.ConfigCommit, true
			s.deployed = Deployed{Version: rec.Version, Digest: rec.Digest, ConfigCommit: dep.ConfigCommit, Since: dep.DeployedAt}
			s.announced = rec.Digest
			s.setPhase(PhaseDeployed, r.now())
		})
		r.log.Info("restored deployed model", "org", org, "version", rec.Version, "digest", rec.Digest)
	}
	return nil
}

func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}
