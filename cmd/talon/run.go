package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/eaglenotifier/talon/reconciler/daemon"
)

func init() { subcommands = append(subcommands, newRunCmd) }

func newRunCmd(g *globalFlags) *cobra.Command {
	var cfg daemon.Config
	cmd := &cobra.Command{
		Use:   "run --config-repo URL --data DIR",
		Short: "Reconcile the orgs of a config repository and serve their models",
		Long: `Run polls the config repository (a path, file://, git:// or http(s):// URL), deploys
the model each orgs/<org>.yaml names from its OCI registry, and serves it over the Open
Inference Protocol v2 (POST /v2/models/{org}/infer). Registry credentials come from the
Docker config and credential helpers.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.ConfigRepo == "" || cfg.DataDir == "" {
				return usageError{errMissing("--config-repo and --data")}
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg.Logger, cfg.ORTLib, cfg.Version = log, g.ortLib, version
			return daemon.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ConfigRepo, "config-repo", "", "config repository URL: a path, file://, git:// or http(s)://")
	f.StringVar(&cfg.Branch, "branch", "main", "branch of the config repository to track")
	f.StringVar(&cfg.DataDir, "data", "", "data directory (model store, mirror, backups, pipeline logs)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address of the inference HTTP server")
	f.DurationVar(&cfg.PollInterval, "poll-interval", 30*time.Second, "how often to poll the config repository")
	f.StringSliceVar(&cfg.InsecureRegistries, "insecure-registry", nil, "registry host reachable over plain HTTP (loopback always is); repeatable")
	f.IntVar(&cfg.IntraOpThreads, "intra-op-threads", 1, "ONNX Runtime intra-op threads per model")
	return cmd
}

type errMissing string

func (e errMissing) Error() string { return string(e) + " are required" }
