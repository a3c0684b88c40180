// Command talon is GitOps for ML models: it deploys the signed ONNX models a Git config
// repository names, serves them over the Open Inference Protocol, and pushes artifacts.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "talon:", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks errors in how the command was called (exit 2).
type usageError struct{ error }

func exitCode(err error) int {
	if _, ok := err.(usageError); ok {
		return 2
	}
	return 1
}

type globalFlags struct {
	logLevel  string
	logFormat string
	ortLib    string
}

func newRoot() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "talon",
		Short:         "GitOps for ML models: Git config repo → signed OCI artifact → ONNX Runtime serving",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&g.logFormat, "log-format", "json", "log format: json or text")
	pf.StringVar(&g.ortLib, "ort-lib", "", "path of libonnxruntime.so (default: $TALON_ORT_LIB, the make-ort cache, the system library path)")
	for _, newCmd := range subcommands {
		root.AddCommand(newCmd(g))
	}
	return root
}

// subcommands are the constructors of talon's subcommands. Each command's file adds its
// own in an init function, so commands stay independent of each other.
var subcommands []func(*globalFlags) *cobra.Command

// logger builds the process's one structured logger, writing to stderr.
func (g *globalFlags) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: %w", g.logLevel, err)}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch g.logFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want json or text", g.logFormat)}
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %s (got %d arguments)", cmd.CommandPath(), names, len(args))}
		}
		return nil
	}
}
