package main

import (
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
)

func init() { subcommands = append(subcommands, newPushCmd) }

func newPushCmd(g *globalFlags) *cobra.Command {
	var in registry.PushInput
	var insecure []string
	var quiet bool
	var signKey string
	cmd := &cobra.Command{
		Use:   "push FILE REF",
		Short: "Package an ONNX model as a CNCF ModelPack artifact and push it",
		Long: `Push packages FILE (an ONNX model), with optional metadata JSON and validation dataset,
as a CNCF ModelPack v1 OCI artifact, pushes it to REF (host/repository:tag) and prints the
pushed digest. The last line on stdout is REF@sha256:<hex> (without REF's tag). Registry
credentials come from the Docker config and credential helpers. With --sign-key, the pushed
digest is then signed as 'talon sign' does (password from $TALON_PASSWORD, else
$COSIGN_PASSWORD, else a prompt, asked before anything is uploaded).`,
		Args: exactArgs(2, "FILE and REF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.ModelPath = args[0]
			var opts []registry.Option
			if len(insecure) > 0 {
				opts = append(opts, registry.WithInsecureRegistries(insecure...))
			}
			client, err := registry.New(opts...)
			if err != nil {
				return usageError{err}
			}
			var signer *cosign.Signer
			if signKey != "" {
				if signer, err = loadSigner(signKey, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			var bar *progressbar.ProgressBar
			if !quiet && term.IsTerminal(int(os.Stderr.Fd())) {
				bar = progressbar.DefaultBytes(-1, "pushing")
				in.Progress = func(written, total int64) {
					bar.ChangeMax64(total)
					bar.Set64(written)
				}
			}
			d, err := client.Push(cmd.Context(), args[1], in)
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				return err
			}
			if signer != nil {
				res, err := cosign.Sign(cmd.Context(), client, d, signer)
				if err != nil {
					return fmt.Errorf("pushed %s, but signing failed: %w", d, err)
				}
				reportSigned(cmd, res, signer)
			}
			fmt.Fprintln(cmd.OutOrStdout(), d.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.MetadataPath, "metadata", "", "metadata JSON (accuracy, training date, I/O schema, metrics) to include")
	f.StringVar(&in.DatasetPath, "dataset", "", "validation dataset to include")
	f.StringVar(&in.Name, "name", "", "model name in the ModelPack config (default: the repository path)")
	f.StringVar(&in.Version, "model-version", "", "model version in the ModelPack config (default: the tag)")
	f.StringSliceVar(&insecure, "insecure-registry", nil, "registry host reachable over plain HTTP (loopback always is); repeatable")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	f.StringVar(&signKey, "sign-key", "", "sign the pushed digest with this private key (talon keygen or cosign generate-key-pair)")
	return cmd
}
