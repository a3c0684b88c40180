package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/eaglenotifier/talon/registry/cosign"
)

func init() { subcommands = append(subcommands, newKeygenCmd) }

func newKeygenCmd(*globalFlags) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "keygen [--out PREFIX]",
		Short: "Make a cosign-compatible signing key pair (PREFIX.key, PREFIX.pub)",
		Long: `Keygen makes an ECDSA P-256 key pair in cosign's formats: PREFIX.key, the private key
encrypted with a password ("ENCRYPTED SIGSTORE PRIVATE KEY", mode 0600), and PREFIX.pub, the
public key to list in an org's trusted keys. cosign reads both, and Talon reads keys made by
'cosign generate-key-pair'. The password comes from $TALON_PASSWORD, else $COSIGN_PASSWORD,
else a prompt on the terminal. Existing files are never overwritten.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if prefix == "" {
				return usageError{errors.New("--out must not be empty")}
			}
			pw, err := keyPassword(cmd.ErrOrStderr(), true)
			if err != nil {
				return err
			}
			priv, pub, err := cosign.GenerateKeyPair(pw)
			if err != nil {
				return err
			}
			keyPath, pubPath := prefix+".key", prefix+".pub"
			for _, p := range []string{keyPath, pubPath} {
				if _, err := os.Lstat(p); err == nil {
					return fmt.Errorf("%s already exists; remove it or choose another --out", p)
				}
			}
			if err := writeNew(keyPath, priv, 0o600); err != nil {
				return err
			}
			if err := writeNew(pubPath, pub, 0o644); err != nil {
				os.Remove(keyPath)
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Private key written to %s\nPublic key written to %s\n", keyPath, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "out", "talon", "file name prefix of the key pair")
	return cmd
}

// writeNew creates path (never overwriting) with mode, writes data and syncs it.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// passwordEnv are the environment variables a key password is read from, in order:
// Talon's own, then cosign's, so CI set up for cosign works unchanged.
var passwordEnv = []string{"TALON_PASSWORD", "COSIGN_PASSWORD"}

// keyPassword returns the private key password: from the first of passwordEnv that is set
// (even if empty: cosign accepts empty passwords), else typed at the terminal (twice when
// confirm). Without a terminal and without the variables it is a usage error.
func keyPassword(prompt io.Writer, confirm bool) ([]byte, error) {
	for _, env := range passwordEnv {
		if pw, ok := os.LookupEnv(env); ok {
			return []byte(pw), nil
		}
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, usageError{errors.New("no key password: set TALON_PASSWORD (or COSIGN_PASSWORD), or run on a terminal")}
	}
	fmt.Fprint(prompt, "Enter password for private key: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil || !confirm {
		return pw, err
	}
	fmt.Fprint(prompt, "Enter password for private key again: ")
	again, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(pw, again) {
		return nil, usageError{errors.New("passwords do not match")}
	}
	return pw, nil
}

// loadSigner reads and decrypts the private key at path.
func loadSigner(path string, prompt io.Writer) (*cosign.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("--key: %w", err)}
	}
	pw, err := keyPassword(prompt, false)
	if err != nil {
		return nil, err
	}
	s, err := cosign.LoadPrivateKey(path, data, pw)
	if err != nil {
		return nil, usageError{err}
	}
	return s, nil
}
