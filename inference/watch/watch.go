// Package watch keeps an inference.Cache serving what another process deployed:
// it polls each org's `deployed` symlink under a data directory and hot-swaps
// the model when the link changes (`talon serve`, the sidecar split).
//
// It polls (os.Readlink every Interval) rather than using inotify: a symlink
// swap by rename is one readlink away, polling works the same on every
// filesystem (including the network and overlay volumes pods share, where
// inotify events from another container may never arrive), and it cannot
// miss an event while a load is running.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eaglenotifier/talon/inference"
)

// Defaults of Options.
const (
	DefaultInterval      = 500 * time.Millisecond
	DefaultRetryInterval = 30 * time.Second
)

// DeployedLink is the symlink in each org directory naming the deployed dir:
// <dir>/models/<org>/deployed.
const DeployedLink = "deployed"

// Loader returns the bytes and provenance of org's deployed model (reading
// through the deployed symlink itself). The watcher wipes the bytes once the
// model is loaded. An error leaves the org's serving model in place.
type Loader func(ctx context.Context, org string) ([]byte, inference.ModelInfo, error)

// Kind says what happened to an org.
type Kind int

// Kinds of Event.
const (
	// Swapped: a new model serves the org.
	Swapped Kind = iota
	// Failed: the deployed model could not be read or loaded; the org keeps
	// serving what it served.
	Failed
	// Removed: the org's deployed link (or directory) disappeared, and the
	// model this watcher had loaded was removed from the cache.
	Removed
)

func (k Kind) String() string {
	return [...]string{"swapped", "failed", "removed"}[k]
}

// Event reports one change the watcher made or failed to make.
type Event struct {
	Org  string
	Kind Kind
	// Target is the deployed link's target (a deploy dir name).
	Target string
	// Info is the new model (Swapped), the one that failed to load when the
	// loader got that far (Failed) or the removed one (Removed).
	Info inference.ModelInfo
	// Previous is what served the org before a swap (zero if nothing did).
	Previous inference.ModelInfo
	// Err is why a load failed.
	Err error
	// Load is the time reading and loading took; Swap the time the swap took.
	Load, Swap time.Duration
}

// Options tunes New. The zero value is ready to use.
type Options struct {
	// Interval is the time between two polls. The default is DefaultInterval
	// (500ms).
	Interval time.Duration
	// RetryInterval is how long a deploy dir that failed to load is left alone
	// before it is tried again (a new target is tried at once). The default is
	// DefaultRetryInterval (30s).
	RetryInterval time.Duration
	// Load tunes inference.LoadModel.
	Load inference.LoadOptions
	// OnEvent, if set, is called (from the goroutine running Sync) for every
	// Event.
	OnEvent func(Event)
}

// Watcher swaps the models of a data directory's orgs into a Cache.
type Watcher struct {
	dir    string
	cache  *inference.Cache
	load   Loader
	opts   Options
	synced atomic.Bool

	mu   sync.Mutex // serializes Sync; guards orgs
	orgs map[string]*orgState
}

type orgState struct {
	served   string // target whose model this watcher swapped in ("" if none)
	failed   string // target that failed to load
	failedAt time.Time
}

// New returns a Watcher of dir (the data directory holding models/<org>/)
// that loads models with load into cache.
func New(dir string, cache *inference.Cache, load Loader, opts Options) *Watcher {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	return &Watcher{dir: dir, cache: cache, load: load, opts: opts, orgs: map[string]*orgState{}}
}

// Run syncs at once and then every Interval until ctx is done. Errors of a
// pass are reported through OnEvent (per org) or retried at the next pass
// (listing the directory).
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		w.Sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Synced reports whether a Sync has completed (for readiness).
func (w *Watcher) Synced() bool { return w.synced.Load() }

// orgName is the rule for org directory names (a lowercase DNS label, as the
// policy package enforces); other entries are ignored.
var orgName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Sync makes one pass: for every org directory whose deployed link points
// somewhere new, it loads that model and swaps it in; for every org whose link
// disappeared, it removes the model it had swapped in. It returns an error only
// if the models directory cannot be listed; per-org failures are Events.
func (w *Watcher) Sync(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	orgs, err := w.listOrgs()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, org := range orgs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		seen[org] = true
		w.syncOrg(ctx, org)
	}
	for org, st := range w.orgs {
		if !seen[org] {
			w.remove(org, st)
		}
	}
	w.synced.Store(true)
	return nil
}

func (w *Watcher) listOrgs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(w.dir, "models"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", w.dir, err)
	}
	var orgs []string
	for _, e := range entries {
		if e.IsDir() && orgName.MatchString(e.Name()) {
			orgs = append(orgs, e.Name())
		}
	}
	sort.Strings(orgs)
	return orgs, nil
}

func (w *Watcher) syncOrg(ctx context.Context, org string) {
	st := w.orgs[org]
	if st == nil {
		st = &orgState{}
		w.orgs[org] = st
	}
	target, err := os.Readlink(filepath.Join(w.dir, "models", org, DeployedLink))
	if errors.Is(err, fs.ErrNotExist) {
		w.remove(org, st)
		return
	}
	if target == st.served || (target == st.failed && time.Since(st.failedAt) < w.opts.RetryInterval) {
		return
	}
	start := time.Now()
	var b []byte
	var info inference.ModelInfo
	if err == nil {
		b, info, err = w.load(ctx, org)
	}
	if err == nil && info.Org != org {
		err = fmt.Errorf("loader returned a model of org %q for %q", info.Org, org)
	}
	prev, _, serving := w.cache.Get(org)
	if err == nil && serving && prev == info {
		st.served, st.failed = target, "" // the same deployment again: nothing to swap
		clear(b)
		return
	}
	var m *inference.Model
	if err == nil {
		m, err = inference.LoadModel(ctx, b, info, w.opts.Load)
	}
	clear(b)
	loaded := time.Since(start)
	if err != nil && ctx.Err() != nil {
		return // shutting down
	}
	if err != nil {
		st.failed, st.failedAt = target, time.Now()
		w.emit(Event{Org: org, Kind: Failed, Target: target, Info: info, Err: err, Load: loaded})
		return
	}
	start = time.Now()
	w.cache.Swap(org, m)
	swapped := time.Since(start)
	st.served, st.failed = target, ""
	w.emit(Event{Org: org, Kind: Swapped, Target: target, Info: info, Previous: prev, Load: loaded, Swap: swapped})
}

// remove stops serving org if this watcher had swapped its model in.
func (w *Watcher) remove(org string, st *orgState) {
	delete(w.orgs, org)
	if st.served == "" {
		return
	}
	info, _, ok := w.cache.Get(org)
	if ok && w.cache.Remove(org) {
		w.emit(Event{Org: org, Kind: Removed, Target: st.served, Info: info})
	}
}

func (w *Watcher) emit(e Event) {
	if w.opts.OnEvent != nil {
		w.opts.OnEvent(e)
	}
}
