// Package daemon assembles one Talon process (`talon run`): the config-repo mirror, the
// registry client, the model store, the reconciler and the Open Inference Protocol server.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/metrics"
	"github.com/eaglenotifier/talon/inference/monitor"
	"github.com/eaglenotifier/talon/inference/oip"
	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/reconciler/alerts"
	"github.com/eaglenotifier/talon/reconciler/gitops"
	"github.com/eaglenotifier/talon/reconciler/gitstatus"
	"github.com/eaglenotifier/talon/reconciler/hooks"
	"github.com/eaglenotifier/talon/reconciler/pipelog"
	"github.com/eaglenotifier/talon/reconciler/promote"
	"github.com/eaglenotifier/talon/reconciler/rollback"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
)

// Config is what `talon run` is given.
type Config struct {
	// ConfigRepo is the config repository's URL: a path, file://, git:// or http(s)://.
	ConfigRepo string
	// Branch is the tracked branch. The default is "main".
	Branch string
	// DataDir holds the mirror, the model store, backups and pipeline logs.
	DataDir string
	// KeyDir holds each org's age key (<org>.agekey, mode 0600) that encrypts its models
	// at rest. An org without a key fails closed. Required unless NoEncryptionUnsafe.
	KeyDir string
	// NoEncryptionUnsafe stores models in plaintext. For tests and throwaway setups only.
	NoEncryptionUnsafe bool
	// Listen is the HTTP address. The default is 127.0.0.1:8080.
	Listen string
	// PollInterval is the config repo poll interval. The default is 30s.
	PollInterval time.Duration
	// ORTLib is the --ort-lib flag ("" to search; see inference.FindORTLibrary).
	ORTLib string
	// InsecureRegistries may be reached over plain HTTP (loopback always may).
	InsecureRegistries []string
	// IntraOpThreads per model session. The default is 1.
	IntraOpThreads int
	// Logger is the process logger. The default discards.
	Logger *slog.Logger
	// WebhookSecret enables POST /hooks/git (GitHub and GitLab push events, HMAC-checked)
	// to trigger a reconcile at once; whitespace around it is trimmed (hooks.New). Empty
	// disables the route.
	WebhookSecret []byte
	// Alerts are webhook targets for Failed, Recovered, Deployed, Degraded and RolledBack.
	Alerts []alerts.Target
	// StatusBranch receives status/<org>/<replica>.yaml after each pass. The default is
	// "talon-status"; "-" disables status writing.
	StatusBranch string
	// Replica names this process in status files. The default is $POD_NAME, else the
	// host name.
	Replica string
	// Version is reported by GET /v2. The default is "dev".
	Version string
	// OnListen, when set, is called with the bound address once the server listens.
	OnListen func(addr string)
}

// Run starts Talon and blocks until ctx is done, then shuts the server down gracefully.
func Run(ctx context.Context, cfg Config) error {
	if cfg.ConfigRepo == "" || cfg.DataDir == "" {
		return errors.New("daemon: --config-repo and --data are required")
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	lib, err := inference.FindORTLibrary(cfg.ORTLib)
	if err != nil {
		return err
	}
	if err := inference.InitRuntime(lib); err != nil {
		return err
	}
	storeOpt := store.WithKeyDir(cfg.KeyDir)
	switch {
	case cfg.KeyDir != "" && cfg.NoEncryptionUnsafe:
		return errors.New("daemon: give --keys or --no-encryption-unsafe, not both")
	case cfg.NoEncryptionUnsafe:
		storeOpt = store.WithoutEncryptionUnsafe()
		cfg.Logger.Warn("models are stored UNENCRYPTED (--no-encryption-unsafe)")
	case cfg.KeyDir == "":
		return errors.New("daemon: --keys DIR is required: org keys that encrypt models at rest (create them with `talon store keygen --org ORG --keys DIR`)")
	}
	st, err := store.Open(cfg.DataDir, storeOpt)
	if err != nil {
		return err
	}
	mirror, err := gitops.Open(ctx, filepath.Join(st.Root(), "config.git"), cfg.ConfigRepo, gitops.WithBranch(cfg.Branch), gitops.WithMaxFileSize(64<<20))
	if err != nil {
		return fmt.Errorf("config repo %s: %w", cfg.ConfigRepo, err)
	}
	defer func() {
		if err := mirror.Close(); err != nil {
			cfg.Logger.Warn("close config repo mirror", "err", err)
		}
	}()
	for _, why := range mirror.Dropped() {
		cfg.Logger.Warn("config repo mirror: removed a damaged pack; the next fetch brings its objects again", "reason", why)
	}
	var regOpts []registry.Option
	if len(cfg.InsecureRegistries) > 0 {
		regOpts = append(regOpts, registry.WithInsecureRegistries(cfg.InsecureRegistries...))
	}
	reg, err := registry.New(regOpts...)
	if err != nil {
		return err
	}
	pl, err := pipelog.Open(st.Root())
	if err != nil {
		return err
	}
	notifier, err := newNotifier(cfg)
	if err != nil {
		return err
	}
	replica, err := replicaName(cfg)
	if err != nil {
		return err
	}
	status, err := newStatusWriter(cfg, replica, st.Root())
	if err != nil {
		return err
	}
	reverter := rollback.Reverter{URL: cfg.ConfigRepo, Branch: cfg.Branch, Dir: filepath.Join(st.Root(), "rollback.git"),
		AuthorName: "Talon " + replica, AuthorEmail: "talon@" + replica + ".invalid"}
	promo := promoter{promote.Promoter{URL: cfg.ConfigRepo, Tracked: cfg.Branch, Dir: filepath.Join(st.Root(), "promote.git"),
		AuthorName: "Talon " + replica, AuthorEmail: "talon@" + replica + ".invalid"}}
	cache := inference.NewCache()
	mon := monitor.New(monitor.Options{})
	met := metrics.New(metrics.Options{Cache: cache, Monitor: mon})
	rec := reconciler.New(mirror, reg, st, cache, reconciler.Options{
		PollInterval: cfg.PollInterval,
		Load:         inference.LoadOptions{IntraOpThreads: cfg.IntraOpThreads},
		Logger:       cfg.Logger,
		PipeLog:      pl,
		Alerts:       notifier,
		Status:       status,
		Metrics:      met,
		Monitor:      mon,
		Reverter:     reverter,
		Promoter:     promo,
	})
	if err := met.RegisterReconciler(rec, reconciler.Phases()...); err != nil {
		return err
	}
	if err := rec.Restore(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", oip.NewServer(cache, oip.ServerOptions{Ready: rec.Ready, Version: cfg.Version, Metrics: met, Monitor: mon}))
	if err := mountWebhook(mux, cfg, rec); err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	cfg.Logger.Info("talon listening", "addr", ln.Addr().String(), "config_repo", cfg.ConfigRepo,
		"branch", cfg.Branch, "data", st.Root(), "ort", inference.RuntimeVersion())
	if cfg.OnListen != nil {
		cfg.OnListen(ln.Addr().String())
	}
	return Serve(ctx, ln, srv, func(ctx context.Context) { rec.Run(ctx) }, func(shut context.Context) {
		if notifier != nil {
			notifier.Close(shut)
		}
		cache.Close()
	})
}

// mountWebhook serves POST /hooks/git when a secret is configured: a verified push to the
// tracked branch triggers a reconcile pass at once, whose fetch is hinted with the push's
// head commit so it need not list the remote's refs first.
func mountWebhook(mux *http.ServeMux, cfg Config, rec *reconciler.Reconciler) error {
	if len(cfg.WebhookSecret) == 0 {
		cfg.Logger.Info("push webhook disabled (no secret configured)")
		return nil
	}
	log := cfg.Logger
	hk, err := hooks.New(cfg.WebhookSecret, func(_ context.Context, ev hooks.PushEvent) {
		log.Info("push webhook", "provider", ev.Provider, "repository", ev.Repository, "after", ev.After, "delivery", ev.Delivery)
		rec.TriggerCommit(ev.After)
	}, hooks.WithBranch(cfg.Branch), hooks.WithOnReject(func(r *http.Request, code int, err error) {
		log.Warn("push webhook refused", "status", code, "remote", r.RemoteAddr, "err", err)
	}))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	mux.Handle(hooks.Path, hk)
	return nil
}

// replicaName is --replica, else $POD_NAME, else the host name.
func replicaName(cfg Config) (string, error) {
	if cfg.Replica != "" {
		return cfg.Replica, nil
	}
	if p := os.Getenv("POD_NAME"); p != "" {
		return p, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("name this replica with --replica: %w", err)
	}
	return h, nil
}

// newStatusWriter returns the status-branch writer, or nil when status writing is off.
func newStatusWriter(cfg Config, replica, dataDir string) (reconciler.StatusPublisher, error) {
	if cfg.StatusBranch == "-" {
		return nil, nil
	}
	w, err := gitstatus.New(cfg.ConfigRepo, nil, cfg.StatusBranch, replica,
		gitstatus.WithDir(filepath.Join(dataDir, "status.git")), gitstatus.WithAuthor("Talon "+replica, "talon@"+replica+".invalid"))
	if err != nil {
		return nil, fmt.Errorf("status branch: %w", err)
	}
	return w, nil
}

// newNotifier returns the alert notifier for cfg.Alerts, or nil when there are none.
func newNotifier(cfg Config) (*alerts.Notifier, error) {
	if len(cfg.Alerts) == 0 {
		return nil, nil
	}
	log := cfg.Logger
	return alerts.New(cfg.Alerts, alerts.WithResults(func(r alerts.Result) {
		switch {
		case r.Err == nil:
			log.Debug("alert delivered", "target", r.Target, "org", r.Org, "kind", r.Kind)
		case r.RetryIn > 0:
			log.Warn("alert delivery failed; retrying", "target", r.Target, "org", r.Org, "kind", r.Kind, "in", r.RetryIn.String(), "err", r.Err)
		default:
			log.Error("alert not delivered", "target", r.Target, "org", r.Org, "kind", r.Kind, "err", r.Err)
		}
	}))
}
