// Package demo runs Talon's GitOps story on an embedded default: a local bare config
// repository, an in-process OCI registry and generated predictive-maintenance models for
// two orgs, driven by the same daemon as `talon run`.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/eaglenotifier/talon/reconciler/daemon"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// Options configure the demo.
type Options struct {
	// Listen is the inference server's address. The default is 127.0.0.1:8080.
	Listen string
	// ORTLib is the --ort-lib flag ("" to search).
	ORTLib string
	// Dir is where the demo keeps its config repo, registry-side files and data. The
	// default is a new temporary directory, removed when the demo ends.
	Dir string
	// Out receives the story. The default is os.Stdout.
	Out io.Writer
	// Logger receives the daemon's logs. The default writes JSON to Dir/talon.log.
	Logger *slog.Logger
	// StoryOnly ends the demo after the story instead of serving until ctx is done.
	StoryOnly bool
	// PollInterval is the daemon's poll interval. The default is 1s.
	PollInterval time.Duration
}

// orgs are the demo's organizations; each gets its own repository in the registry.
var orgs = []string{"acme", "globex"}

// Run sets up the embedded world, runs the story and serves until ctx is done.
func Run(ctx context.Context, o Options) (err error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8080"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "talon-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}
	if o.Logger == nil {
		f, err := os.OpenFile(filepath.Join(o.Dir, "talon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Logger = slog.New(slog.NewJSONHandler(f, nil))
	}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }

	regHost, stopRegistry, err := registrytest.Serve()
	if err != nil {
		return err
	}
	defer stopRegistry()
	say("▸ in-process OCI registry on %s", regHost)

	pushed, pub, err := pushModels(ctx, o.Dir, regHost)
	if err != nil {
		return err
	}
	for _, p := range pushed {
		say("  pushed and signed %s", p)
	}

	bare := filepath.Join(o.Dir, "config.git")
	git, err := newConfigRepo(ctx, bare, filepath.Join(o.Dir, "work"))
	if err != nil {
		return err
	}
	files := map[string]string{"README.md": "# Talon demo config repository\n", "keys/ci.pub": string(pub)}
	for _, org := range orgs {
		files["orgs/"+org+".yaml"] = orgYAML(org, regHost, "v1")
	}
	if _, err := git.commitFiles(ctx, "Deploy v1 to acme and globex", files); err != nil {
		return err
	}
	say("▸ config repository %s: orgs/acme.yaml and orgs/globex.yaml desire v1, signed by keys/ci.pub", bare)

	keys := filepath.Join(o.Dir, "keys")
	for _, org := range orgs {
		if _, err := store.GenerateKey(keys, org); err != nil {
			return err
		}
	}
	say("▸ age keys for acme and globex in %s: models are encrypted at rest, per org", keys)

	// The push webhook's HMAC secret, text as a Git host holds it (Talon trims whitespace
	// around a secret, so random bytes would sometimes not match the signer's).
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		return err
	}
	hookSecret := []byte(hex.EncodeToString(random))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listening := make(chan string, 1)
	daemonErr := make(chan error, 1)
	go func() {
		daemonErr <- daemon.Run(ctx, daemon.Config{
			ConfigRepo: bare, DataDir: filepath.Join(o.Dir, "data"), KeyDir: keys, Listen: o.Listen,
			PollInterval: o.PollInterval, ORTLib: o.ORTLib, Logger: o.Logger, WebhookSecret: hookSecret,
			OnListen: func(addr string) { listening <- addr },
		})
	}()
	var base string
	select {
	case addr := <-listening:
		base = "http://" + addr
	case err := <-daemonErr:
		return fmt.Errorf("talon did not start: %w", err)
	}
	say("▸ talon serving the Open Inference Protocol on %s (logs: %s)", base, filepath.Join(o.Dir, "talon.log"))

	if err := story(ctx, o.Out, git, base, regHost, hookSecret); err != nil {
		cancel()
		<-daemonErr // stopped: it no longer writes under o.Dir
		return err
	}
	say("\nTry it yourself:")
	say("  curl -s %s/v2/models/acme/infer -d '{\"inputs\":[{\"name\":\"sensors\",\"datatype\":\"FP32\",\"shape\":[1,6],\"data\":[86,5.5,5.8,33,2100,13000]}]}'", base)
	say("  curl -s %s/v2/models/globex", base)
	say("  git clone %s && edit orgs/acme.yaml (version: v2) && git commit -am 'acme: v2' && git push", bare)
	if o.StoryOnly {
		cancel()
		return ignoreCanceled(<-daemonErr)
	}
	say("Serving until interrupted (Ctrl-C).")
	return ignoreCanceled(<-daemonErr)
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func orgYAML(org, regHost, version string) string {
	return fmt.Sprintf("org: %s\nmodel:\n  repository: %s/%s/pdm\n  version: %s\ntrust:\n  keys: [keys/ci.pub]\n", org, regHost, org, version)
}
