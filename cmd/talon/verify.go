package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/eaglenotifier/talon/registry/cosign"
)

func init() { subcommands = append(subcommands, newVerifyCmd) }

func newVerifyCmd(*globalFlags) *cobra.Command {
	var keyPaths, insecure, signedRepos []string
	cmd := &cobra.Command{
		Use:   "verify REF --key FILE [--key FILE…]",
		Short: "Verify an artifact's cosign signature against trusted public keys",
		Long: `Verify resolves REF to a digest once, fetches the signatures of that digest
("sha256-<hex>.sig" in the same repository) and checks, offline, that one of them verifies
with one of the --key public keys and that its payload names exactly that digest and this
repository (or one given with --signed-repository, for a copy). It prints which key
verified. Exit status: 0 verified, 1 not verified (unsigned, untrusted key, payload for
another digest or repository, malformed signature, registry error), 2 usage.`,
		Args: exactArgs(1, "REF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(keyPaths) == 0 {
				return usageError{errors.New("--key is required (a trusted public key; repeatable)")}
			}
			var keys []*cosign.PublicKey
			for _, p := range keyPaths {
				data, err := os.ReadFile(p)
				if err != nil {
					return usageError{fmt.Errorf("--key: %w", err)}
				}
				k, err := cosign.ParsePublicKey(p, data)
				if err != nil {
					return usageError{err}
				}
				keys = append(keys, k)
			}
			v, err := cosign.NewKeyVerifier(keys...)
			if err != nil {
				return usageError{err}
			}
			client, err := newRegistryClient(insecure)
			if err != nil {
				return err
			}
			d, err := client.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			set, err := cosign.Fetch(cmd.Context(), client, d)
			if err != nil {
				return err
			}
			res, err := cosign.Verify(set, d, v, cosign.Options{SignedRepositories: signedRepos})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Verified %s\nsigned by %s (signature %d of %d in %s)\n",
				d, res.Signer, res.Index+1, len(set.Signatures), set.Tag.TagStr())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&keyPaths, "key", nil, "trusted public key file (PEM); repeatable")
	f.StringArrayVar(&signedRepos, "signed-repository", nil, "also accept signatures naming this repository (host/path), for a copied artifact; repeatable")
	f.StringSliceVar(&insecure, "insecure-registry", nil, "registry host reachable over plain HTTP (loopback always is); repeatable")
	return cmd
}
