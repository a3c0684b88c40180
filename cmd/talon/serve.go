package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/metrics"
	"github.com/eaglenotifier/talon/inference/monitor"
	"github.com/eaglenotifier/talon/inference/oip"
	"github.com/eaglenotifier/talon/inference/watch"
	"github.com/eaglenotifier/talon/reconciler/daemon"
	"github.com/eaglenotifier/talon/reconciler/store"
)

func init() { subcommands = append(subcommands, newServeCmd) }

// serveConfig is what `talon serve` is given.
type serveConfig struct {
	dataDir        string
	keys           string
	noEncryption   bool
	listen         string
	poll           time.Duration
	intraOpThreads int
	ortLib         string
	log            *slog.Logger
	onListen       func(addr string) // tests learn the bound address
}

func newServeCmd(g *globalFlags) *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve --models DIR (--keys DIR | --no-encryption-unsafe)",
		Short: "Serve the models another Talon process deploys into a data directory",
		Long: `Serve is the serving half of the sidecar split: another process (talon run) reconciles
and writes DIR/models/<org>/deployed; serve loads each org's deployed model, serves it over
the Open Inference Protocol v2 with /metrics, feedback and monitoring, and hot-swaps it when
the deployed link changes (checked every --poll). A model that fails to load leaves the
previous one serving. Models encrypted at rest are decrypted with the org keys in --keys.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.dataDir == "" {
				return usageError{errors.New("--models is required")}
			}
			if (cfg.keys == "") == !cfg.noEncryption {
				return usageError{errors.New("give exactly one of --keys DIR (org keys of models encrypted at rest) and --no-encryption-unsafe")}
			}
			if cfg.poll <= 0 {
				return usageError{fmt.Errorf("--poll %v: must be positive", cfg.poll)}
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg.log, cfg.ortLib = log, g.ortLib
			return runServe(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.dataDir, "models", "", "data directory another Talon deploys into (holds models/<org>/deployed)")
	f.StringVar(&cfg.keys, "keys", "", "directory of the org keys (<org>.agekey) that decrypt models at rest")
	f.BoolVar(&cfg.noEncryption, "no-encryption-unsafe", false, "read a store whose models are not encrypted at rest (tests and demos)")
	f.StringVar(&cfg.listen, "listen", "127.0.0.1:8080", "address of the inference HTTP server")
	f.DurationVar(&cfg.poll, "poll", watch.DefaultInterval, "how often to check the deployed links")
	f.IntVar(&cfg.intraOpThreads, "intra-op-threads", 1, "ONNX Runtime intra-op threads per model")
	return cmd
}

// runServe serves until ctx is done, then shuts the HTTP server down gracefully.
func runServe(ctx context.Context, cfg serveConfig) error {
	lib, err := inference.FindORTLibrary(cfg.ortLib)
	if err != nil {
		return err
	}
	if err := inference.InitRuntime(lib); err != nil {
		return err
	}
	opt := store.WithoutEncryptionUnsafe()
	if cfg.keys != "" {
		opt = store.WithKeyDir(cfg.keys)
	}
	st, err := store.Open(cfg.dataDir, opt)
	if err != nil {
		return err
	}
	cache := inference.NewCache()
	defer cache.Close()
	mon := monitor.New(monitor.Options{})
	met := metrics.New(metrics.Options{Cache: cache, Monitor: mon})
	w := watch.New(st.Root(), cache, deployedLoader(st), watch.Options{
		Interval: cfg.poll,
		Load:     inference.LoadOptions{IntraOpThreads: cfg.intraOpThreads},
		OnEvent:  func(e watch.Event) { logEvent(cfg.log, met, mon, e) },
	})
	if err := w.Sync(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.listen, err)
	}
	srv := &http.Server{
		Handler: oip.NewServer(cache, oip.ServerOptions{Ready: w.Synced, Version: version, Metrics: met, Monitor: mon,
			OnPanic: func(v any) { cfg.log.Error("handler panic", "panic", fmt.Sprint(v)) }}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	cfg.log.Info("talon serving", "addr", ln.Addr().String(), "data", st.Root(), "encrypted", st.Encrypted(),
		"orgs", cache.Orgs(), "poll", cfg.poll, "ort", inference.RuntimeVersion())
	if cfg.onListen != nil {
		cfg.onListen(ln.Addr().String())
	}
	return daemon.Serve(ctx, ln, srv, w.Run)
}

// deployedLoader reads an org's deployed model (decrypted into memory) and its
// provenance from the store.
func deployedLoader(st *store.Store) watch.Loader {
	return func(ctx context.Context, org string) ([]byte, inference.ModelInfo, error) {
		b, rec, dep, err := st.Deployed(org)
		if err != nil {
			return nil, inference.ModelInfo{}, err
		}
		return b, inference.ModelInfo{Org: org, Version: rec.Version, Digest: rec.Digest, ConfigCommit: dep.ConfigCommit}, nil
	}
}

// logEvent logs a watcher event and records it in the metrics.
func logEvent(log *slog.Logger, met *metrics.Metrics, mon *monitor.Monitor, e watch.Event) {
	attrs := []any{"org", e.Org, "version", e.Info.Version, "digest", e.Info.Digest, "config_commit", e.Info.ConfigCommit, "deploy_dir", e.Target}
	switch e.Kind {
	case watch.Swapped:
		met.ObserveLoad(e.Org, e.Load, nil)
		met.ObserveSwap(e.Org, e.Swap)
		log.Info("model swapped in", append(attrs, "previous_version", e.Previous.Version, "load", e.Load, "swap", e.Swap)...)
	case watch.Failed:
		met.ObserveLoad(e.Org, e.Load, e.Err)
		log.Error("deployed model failed to load; the previous model keeps serving", append(attrs, "err", e.Err)...)
	case watch.Removed:
		met.Forget(e.Org)
		mon.Remove(e.Org)
		log.Info("org no longer deployed; model removed", attrs...)
	}
}
