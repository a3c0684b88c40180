package main

import (
	"github.com/spf13/cobra"

	"github.com/eaglenotifier/talon/examples/demo"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

func newDemoCmd(g *globalFlags) *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the GitOps story on an embedded default: local Git repo, in-process registry, generated models",
		Long: `Demo creates a temporary bare config repository, starts an in-process OCI registry, pushes
v1 and v2 of a predictive-maintenance model for the orgs acme and globex, and runs the same
code as 'talon run' on them. It then shows a prediction from v1, a commit bumping acme to v2,
and a git revert back to v1, and keeps serving until interrupted.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.ORTLib, o.Out = g.ortLib, cmd.OutOrStdout()
			return demo.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Listen, "listen", "127.0.0.1:8080", "address of the inference HTTP server")
	cmd.Flags().BoolVar(&o.StoryOnly, "story-only", false, "exit after the story instead of serving")
	return cmd
}
