// Package reconciler turns the config repository's desired state into serving models: it
// polls the repository, and for each org resolves, pulls, stores, loads, deploys and
// hot-swaps the model that org's file names, one org never blocking another.
package reconciler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/metrics"
	"github.com/eaglenotifier/talon/inference/monitor"
	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/alerts"
	"github.com/eaglenotifier/talon/reconciler/gitops"
	"github.com/eaglenotifier/talon/reconciler/pipelog"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
)

// Options tune a Reconciler. The zero value gives the documented defaults.
type Options struct {
	// PollInterval is the time between polls of the config repository, with ±10% jitter.
	// The default is 30s.
	PollInterval time.Duration
	// Concurrency is how many orgs are reconciled at once. The default is 4.
	Concurrency int
	// OrgTimeout bounds one org's reconcile (resolve, pull, load, deploy). The default is 10m.
	OrgTimeout time.Duration
	// Load configures ONNX Runtime sessions for deployed models.
	Load inference.LoadOptions
	// Backoff spaces retries of transient failures. The default is 1s doubling to 5m.
	Backoff Backoff
	// Logger receives one structured line per decision. The default discards.
	Logger *slog.Logger
	// Now is the clock. The default is time.Now.
	Now func() time.Time
	// PipeLog, when set, receives each org reconcile's stages (pipeline/<org>/logs/).
	PipeLog *pipelog.Log
	// Alerts, when set, is sent Failed, Recovered and Deployed events.
	Alerts *alerts.Notifier
	// Metrics, when set, records model loads, swaps and validations.
	Metrics *metrics.Metrics
	// Monitor, when set, holds the rolling windows that decide degradation.
	Monitor *monitor.Monitor
	// Reverter, when set, commits auto-rollbacks of degraded models.
	Reverter Reverter
	// Promoter, when set, commits the automatic promotions of orgs with cicd.autoPromote
	// (checked every PollInterval, between passes); without it they are not acted on.
	Promoter Promoter
	// MonitorInterval is how often CheckHealth runs between passes. The default is 15s.
	MonitorInterval time.Duration
	// Status, when set, receives every org's status after each pass that did something.
	Status StatusPublisher
	// BeforeStep, when set, is called before each step of an org's reconcile. Crash tests
	// use it to kill the process at a chosen moment.
	BeforeStep func(org, step string)
}

func (o *Options) setDefaults() {
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.OrgTimeout <= 0 {
		o.OrgTimeout = 10 * time.Minute
	}
	if o.MonitorInterval <= 0 {
		o.MonitorInterval = 15 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Reconciler drives every org of one config repository toward its desired state.
type Reconciler struct {
	mirror *gitops.Mirror
	reg    *registry.Client
	sigs   *cosign.Fetcher
	store  *store.Store
	cache  *inference.Cache
	opts   Options
	log    *slog.Logger

	kick  chan struct{}
	hint  atomic.Pointer[plumbing.Hash] // the latest TriggerCommit's commit; the next pass takes it
	ready atomic.Bool
	// synced is set once a pass has read the desired state; until then every pass reads
	// it, so a crash between fetching a commit and applying it is healed on restart.
	synced atomic.Bool
	// statusDirty is set when the last status publish failed, so the next pass retries it.
	statusDirty atomic.Bool

	mu   sync.Mutex
	orgs map[string]*orgState
	cfg  *policy.Config // the desired state of the last pass that read one

	orgAlerts  *alerts.Notifier // the orgs' own alert targets (config repo `alerts:`)
	orgTargets []alerts.Target
}

func (r *Reconciler) lastConfig() *policy.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// New returns a Reconciler; Restore and Run start it.
func New(mirror *gitops.Mirror, reg *registry.Client, st *store.Store, cache *inference.Cache, opts Options) *Reconciler {
	opts.setDefaults()
	return &Reconciler{
		mirror: mirror, reg: reg, sigs: cosign.NewFetcher(reg), store: st, cache: cache, opts: opts, log: opts.Logger,
		kick: make(chan struct{}, 1), orgs: map[string]*orgState{},
	}
}

func (r *Reconciler) now() time.Time { return r.opts.Now() }

// Ready reports whether the first reconcile pass has finished, so every org with a
// loadable model is serving it.
func (r *Reconciler) Ready() bool { return r.ready.Load() }

// Trigger asks for a reconcile pass now instead of at the next poll.
func (r *Reconciler) Trigger() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// TriggerCommit is Trigger for a caller that knows the commit the tracked branch points to
// now, such as a push webhook. The next pass hands it to the mirror as a hint
// (gitops.Mirror.FetchHint), which fetches a commit it does not hold in one connection to
// the remote instead of two. The latest hint wins and one pass consumes it. A hash that is
// not a full hex SHA-1 commit id, or is all zeros, is ignored; the pass is triggered anyway.
// The hint decides nothing: the pass works from the commit the remote's branch points to.
func (r *Reconciler) TriggerCommit(hash string) {
	if plumbing.IsHash(hash) {
		if h := plumbing.NewHash(hash); !h.IsZero() {
			r.hint.Store(&h)
		}
	}
	r.Trigger()
}

// takeHint returns and clears the commit of the latest TriggerCommit; the zero hash when
// there is none.
func (r *Reconciler) takeHint() plumbing.Hash {
	if h := r.hint.Swap(nil); h != nil {
		return *h
	}
	return plumbing.ZeroHash
}

// Run reconciles until ctx is done: once at once, then on every poll tick or Trigger.
func (r *Reconciler) Run(ctx context.Context) error {
	health := time.NewTicker(r.opts.MonitorInterval)
	defer health.Stop()
	for {
		if err := r.ReconcileOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile pass failed; serving what is deployed", "err", err)
		}
		r.CheckHealth(ctx)
		r.Housekeep(ctx)
		t := time.NewTimer(jitter(r.opts.PollInterval))
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-health.C:
				r.CheckHealth(ctx)
				r.Housekeep(ctx)
				continue wait
			case <-r.kick:
				t.Stop()
			case <-t.C:
			}
			break
		}
	}
}

// jitter spreads d by ±10% so many replicas do not poll in step.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

// ReconcileOnce fetches the config repository and reconciles every org whose desired
// state changed or whose last attempt failed transiently and is due for a retry. When the
// remote head has not moved, no org waits for a retry and an earlier pass already read
// that head, it does nothing else. The fetch is given the commit of the latest
// TriggerCommit since the last pass, if any, as a hint.
func (r *Reconciler) ReconcileOnce(ctx context.Context) error {
	defer r.ready.Store(true)
	start := time.Now()
	res, err := r.mirror.FetchHint(ctx, r.takeHint())
	r.observeFetch(ctx, res.Commit, err)
	if err != nil {
		return fmt.Errorf("fetch config repo: %w", err)
	}
	if res.MaintainErr != nil {
		r.log.Warn("config mirror maintenance failed; reads may slow down as packs pile up", "err", res.MaintainErr)
	}
	if !res.Changed && !r.anyPending() && r.synced.Load() {
		if r.statusDirty.Load() {
			r.publish(ctx, res.Commit.String())
		}
		return nil
	}
	defer r.observePass(start)
	commit := res.Commit
	snap, err := r.mirror.Snapshot(ctx, commit)
	if err != nil {
		return fmt.Errorf("read config repo at %s: %w", gitops.ShortHash(commit), err)
	}
	cfg, err := policy.Load(ctx, snap.FS(ctx))
	if err != nil {
		return fmt.Errorf("load config repo at %s: %w", gitops.ShortHash(commit), err)
	}
	desired := cfg.Desired()
	r.mu.Lock()
	r.cfg = cfg
	r.mu.Unlock()
	r.updateOrgAlerts(cfg)
	if r.opts.Monitor != nil {
		for _, o := range desired.Orgs {
			// A no-op unless the org's monitoring window changed (which resets its samples).
			r.opts.Monitor.SetWindow(o.Name, o.Monitoring.Window, o.Monitoring.Window+o.Monitoring.DegradedFor)
		}
	}
	for org, ps := range desired.Broken {
		r.log.Error("org config has problems; keeping what it serves", "org", org, "commit", gitops.ShortHash(commit), "problems", ps.Error())
		err := stalled("parse", "InvalidConfig", ps)
		r.setState(org, func(s *orgState) {
			s.lastErr, s.applied, s.commit, s.at = err, false, commit.String(), r.now()
			s.fingerprint = ""
		})
		r.observeOrg(org, err)
	}
	r.prune(desired)

	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for _, o := range desired.Orgs {
		fp := cfg.Fingerprint(o)
		if o.Suspend {
			r.suspend(o, commit.String())
			continue
		}
		if !r.needsWork(o, fp) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			octx, cancel := context.WithTimeout(ctx, r.opts.OrgTimeout)
			defer cancel()
			err := r.reconcileOrg(octx, cfg, snap, o)
			r.record(o, fp, commit.String(), err)
			r.observeOrg(o.Name, err)
		}()
	}
	wg.Wait()
	r.synced.Store(true)
	r.publish(ctx, commit.String())
	return nil
}

// prune stops serving orgs whose file was removed from the config repository. Their
// stored versions stay on disk.
func (r *Reconciler) prune(d policy.Desired) {
	keep := map[string]bool{}
	for _, o := range d.Orgs {
		keep[o.Name] = true
	}
	for org := range d.Broken {
		keep[org] = true
	}
	for _, org := range r.cache.Orgs() {
		if !keep[org] {
			r.cache.Remove(org)
			if r.opts.Metrics != nil {
				r.opts.Metrics.Forget(org)
			}
			if r.opts.Monitor != nil {
				r.opts.Monitor.Remove(org)
			}
			r.log.Info("org removed from config repo; stopped serving it", "org", org)
		}
	}
	r.mu.Lock()
	for org := range r.orgs {
		if !keep[org] {
			delete(r.orgs, org)
		}
	}
	r.mu.Unlock()
}
