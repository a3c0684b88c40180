package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
)

func init() { subcommands = append(subcommands, newSignCmd) }

func newSignCmd(*globalFlags) *cobra.Command {
	var keyPath string
	var insecure []string
	cmd := &cobra.Command{
		Use:   "sign REF --key FILE",
		Short: "Sign an artifact's digest, cosign-compatibly",
		Long: `Sign resolves REF (host/repository:tag or @sha256:…) to a digest once and signs that digest
the way 'cosign sign --key' does (without a transparency log upload): a simple-signing
payload in the "sha256-<hex>.sig" tag of the same repository, appended to the signatures
already there. Signing again with the same key changes nothing. FILE is a private key from
'talon keygen' or 'cosign generate-key-pair'; its password comes from $TALON_PASSWORD, else
$COSIGN_PASSWORD, else a prompt. The last line on stdout is the signed digest reference.`,
		Args: exactArgs(1, "REF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyPath == "" {
				return usageError{errors.New("--key is required")}
			}
			client, err := newRegistryClient(insecure)
			if err != nil {
				return err
			}
			s, err := loadSigner(keyPath, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			d, err := client.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			res, err := cosign.Sign(cmd.Context(), client, d, s)
			if err != nil {
				return err
			}
			reportSigned(cmd, res, s)
			fmt.Fprintln(cmd.OutOrStdout(), d.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "private key file (talon keygen or cosign generate-key-pair)")
	cmd.Flags().StringSliceVar(&insecure, "insecure-registry", nil, "registry host reachable over plain HTTP (loopback always is); repeatable")
	return cmd
}

// reportSigned tells, on stderr, what signing did.
func reportSigned(cmd *cobra.Command, res *cosign.SignResult, s *cosign.Signer) {
	if res.Appended {
		fmt.Fprintf(cmd.ErrOrStderr(), "Signed with %s: %s (%d signature(s))\n", s.Public(), res.Tag, res.Signatures)
		return
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Already signed with %s: %s (%d signature(s)); nothing written\n", s.Public(), res.Tag, res.Signatures)
}

// newRegistryClient builds the registry client of the signing commands; bad hosts are
// usage errors.
func newRegistryClient(insecure []string) (*registry.Client, error) {
	var opts []registry.Option
	if len(insecure) > 0 {
		opts = append(opts, registry.WithInsecureRegistries(insecure...))
	}
	c, err := registry.New(opts...)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}
