package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/eaglenotifier/talon/inference"
)

// version is set at build time with -ldflags "-X main.version=…". The default is "dev".
var version = "dev"

func init() { subcommands = append(subcommands, newVersionCmd) }

func newVersionCmd(*globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Talon's version",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "talon %s (%s, %s/%s, ONNX Runtime %s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH, inference.ORTVersion)
			return nil
		},
	}
}
