package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/eaglenotifier/talon/reconciler/store"
)

func init() { subcommands = append(subcommands, newStoreCmd) }

func newStoreCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Manage the encrypted model store: org keys and key rotation",
		Long: `Talon encrypts every org's model files at rest with the org's own age key, kept in a
key directory (--keys) outside the data directory, one file per org: <keys>/<org>.agekey
(mode 0400 as Talon writes it, 0600 or stricter accepted; an age identity file that the
age CLI also reads).`,
	}
	cmd.AddCommand(newStoreKeygenCmd(), newStoreRekeyCmd())
	return cmd
}

func newStoreKeygenCmd() *cobra.Command {
	var orgs []string
	var keyDir string
	cmd := &cobra.Command{
		Use:   "keygen --org ORG [--org ORG…] --keys DIR",
		Short: "Create an org's encryption key in the key directory",
		Long: `Keygen creates <keys>/<org>.agekey (mode 0400; the directory is created with mode 0700)
holding a new age X25519 identity, and prints its public key. It never replaces an existing
key: rotate one with 'talon store rekey'.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(orgs) == 0 || keyDir == "" {
				return usageError{errMissing("--org and --keys")}
			}
			for _, org := range orgs {
				rcpt, err := store.GenerateKey(keyDir, org)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: created %s, public key %s\n", org, filepath.Join(keyDir, org+store.KeyExt), rcpt)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&orgs, "org", nil, "organization to create a key for; repeatable")
	f.StringVar(&keyDir, "keys", "", "key directory (one <org>.agekey file per org)")
	return cmd
}

func newStoreRekeyCmd() *cobra.Command {
	var orgs []string
	var dataDir, keyDir string
	cmd := &cobra.Command{
		Use:   "rekey --org ORG [--org ORG…] --data DIR --keys DIR",
		Short: "Rotate an org's encryption key and re-encrypt its stored models",
		Long: `Rekey gives the org a new key and re-encrypts every stored model file to it, then drops
the old key. It may run while 'talon run' serves from the same data directory: serving goes
on, and the org's pulls and deploys wait for the rotation. If it is interrupted, every file
stays readable with the key file on disk; run it again to finish the same rotation.
Files no key can decrypt are reported and left as they are: the reconciler pulls them again.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(orgs) == 0 || dataDir == "" || keyDir == "" {
				return usageError{errMissing("--org, --data and --keys")}
			}
			if fi, err := os.Stat(filepath.Join(dataDir, "models")); err != nil || !fi.IsDir() {
				return fmt.Errorf("%s is not a Talon data directory (no models/ in it)", dataDir)
			}
			st, err := store.Open(dataDir, store.WithKeyDir(keyDir))
			if err != nil {
				return err
			}
			var failed []error
			for _, org := range orgs {
				res, err := st.Rekey(cmd.Context(), org)
				if err != nil {
					failed = append(failed, err)
					continue
				}
				how := "rotated"
				if res.Resumed {
					how = "rotation finished (it had been interrupted)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: key %s, %d files re-encrypted, public key %s\n", org, how, res.Files, res.Recipient)
				for _, s := range res.Skipped {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: left as it was: %s\n", org, s)
				}
			}
			return errors.Join(failed...)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&orgs, "org", nil, "organization whose key to rotate; repeatable")
	f.StringVar(&dataDir, "data", "", "data directory of the store (as given to talon run)")
	f.StringVar(&keyDir, "keys", "", "key directory (one <org>.agekey file per org)")
	return cmd
}
