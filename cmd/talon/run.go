package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eaglenotifier/talon/reconciler/alerts"
	"github.com/eaglenotifier/talon/reconciler/daemon"
)

func init() { subcommands = append(subcommands, newRunCmd) }

func newRunCmd(g *globalFlags) *cobra.Command {
	var cfg daemon.Config
	var webhookSecretFile, alertSecretFile string
	var alertURLs []string
	cmd := &cobra.Command{
		Use:   "run --config-repo URL --data DIR --keys DIR",
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
			if cfg.WebhookSecret, err = secretFrom(webhookSecretFile, "TALON_WEBHOOK_SECRET"); err != nil {
				return err
			}
			alertSecret, err := secretFrom(alertSecretFile, "TALON_ALERT_SECRET")
			if err != nil {
				return err
			}
			for i, u := range alertURLs {
				cfg.Alerts = append(cfg.Alerts, alerts.Target{Name: fmt.Sprintf("alert-%d", i+1), URL: u, Secret: alertSecret})
			}
			return daemon.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&webhookSecretFile, "webhook-secret-file", "", "file holding the push webhook's shared secret (or $TALON_WEBHOOK_SECRET); enables POST /hooks/git")
	f.StringSliceVar(&alertURLs, "alert-url", nil, "http(s) URL that receives alert webhooks (Failed, Degraded, RolledBack, Recovered); repeatable")
	f.StringVar(&alertSecretFile, "alert-secret-file", "", "file holding the secret that signs alert bodies (X-Talon-Signature-256), or $TALON_ALERT_SECRET")
	f.StringVar(&cfg.ConfigRepo, "config-repo", "", "config repository URL: a path, file://, git:// or http(s)://")
	f.StringVar(&cfg.Branch, "branch", "main", "branch of the config repository to track")
	f.StringVar(&cfg.DataDir, "data", "", "data directory (model store, mirror, backups, pipeline logs)")
	f.StringVar(&cfg.KeyDir, "keys", "", "directory of the org keys (<org>.agekey, mode 0600 or stricter) that encrypt models at rest; see talon store keygen")
	f.BoolVar(&cfg.NoEncryptionUnsafe, "no-encryption-unsafe", false, "store models unencrypted (tests and demos only)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address of the inference HTTP server")
	f.DurationVar(&cfg.PollInterval, "poll-interval", 30*time.Second, "how often to poll the config repository")
	f.StringSliceVar(&cfg.InsecureRegistries, "insecure-registry", nil, "registry host reachable over plain HTTP (loopback always is); repeatable")
	f.StringVar(&cfg.StatusBranch, "status-branch", "talon-status", "branch of the config repository that receives status/<org>/<replica>.yaml (\"-\" disables)")
	f.StringVar(&cfg.Replica, "replica", "", "this replica's name in status files (default $POD_NAME, else the host name)")
	f.IntVar(&cfg.IntraOpThreads, "intra-op-threads", 1, "ONNX Runtime intra-op threads per model")
	return cmd
}

// secretFrom reads a secret from file, or else from the environment variable env. A
// secret file readable by group or others is refused.
func secretFrom(file, env string) ([]byte, error) {
	if file == "" {
		return []byte(strings.TrimSpace(os.Getenv(env))), nil
	}
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %v): chmod 600 it", file, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	return []byte(strings.TrimSpace(string(b))), err
}

type errMissing string

func (e errMissing) Error() string { return string(e) + " are required" }
