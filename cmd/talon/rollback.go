package main

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/spf13/cobra"

	"github.com/eaglenotifier/talon/reconciler/rollback"
)

func init() { subcommands = append(subcommands, newRollbackCmd) }

// Environment variables holding HTTP(S) credentials for the config repository.
const (
	envGitUsername = "TALON_GIT_USERNAME"
	envGitPassword = "TALON_GIT_PASSWORD"
)

func newRollbackCmd(g *globalFlags) *cobra.Command {
	var repoURL, branch, org, to, author string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rollback --config-repo URL --org ORG [--branch main] [--to VERSION]",
		Short: "Revert the last change of an org's model in the config repository and push it",
		Long: `Rollback finds the last commit on the branch that changed the org's model (the
repository, version, semver or digest under model: in orgs/<org>.yaml; comments and
formatting do not count; earlier rollbacks and what they reverted are skipped, so running it
twice goes back two versions), and pushes a revert of that whole commit with git revert's
own message: Revert "<subject>" / This reverts commit <sha>.

With --to VERSION it reverts successive model changes, newest first and one revert commit
each (as "git revert C3 C2" would), until the org asks for VERSION, and pushes them together.

When a later commit changed the same lines, the revert is not clean: rollback names the
files and commits, pushes nothing, and exits 1.

For http(s) URLs, credentials come from the URL (https://user:token@host/repo.git) or from
$TALON_GIT_USERNAME and $TALON_GIT_PASSWORD; they are never printed. Prints one line per
revert commit: its sha and subject.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if repoURL == "" || org == "" {
				return usageError{errMissing("--config-repo and --org")}
			}
			opts := []rollback.Option{}
			if to != "" {
				opts = append(opts, rollback.WithTo(to))
			}
			if author != "" {
				a, err := mail.ParseAddress(author)
				if err != nil || a.Name == "" {
					return usageError{fmt.Errorf("--author %q: want \"Name <email>\"", author)}
				}
				opts = append(opts, rollback.WithAuthor(a.Name, a.Address))
			}
			u, auth, err := gitCredentials(repoURL)
			if err != nil {
				return usageError{err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := rollback.Revert(ctx, u, auth, branch, org, opts...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(res.Commits) == 0 {
				fmt.Fprintf(out, "%s already asks for %s on %s; nothing to do\n", org, res.To, branch)
				return nil
			}
			for _, c := range res.Commits {
				fmt.Fprintf(out, "%s %s\n", c.Hash, c.Subject)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repoURL, "config-repo", "", "config repository URL: a path, file://, git:// or http(s)://")
	f.StringVar(&branch, "branch", "main", "branch of the config repository")
	f.StringVar(&org, "org", "", "organization whose model to roll back")
	f.StringVar(&to, "to", "", "revert model changes until the org asks for this version (a tag, or the semver range or digest as written)")
	f.StringVar(&author, "author", "", `author and committer, "Name <email>" (default "Talon <talon@localhost>")`)
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}

// gitCredentials returns rawURL without credentials and the HTTP basic credentials for it:
// those in the URL, else $TALON_GIT_USERNAME / $TALON_GIT_PASSWORD, else none. Other
// schemes get no credentials.
func gitCredentials(rawURL string) (string, transport.AuthMethod, error) {
	if !strings.HasPrefix(rawURL, "http://") && !strings.HasPrefix(rawURL, "https://") {
		return rawURL, nil, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold credentials
		}
		return "", nil, fmt.Errorf("--config-repo: %w", err)
	}
	user, pass := os.Getenv(envGitUsername), os.Getenv(envGitPassword)
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		u.User = nil
	}
	if user == "" && pass == "" {
		return u.String(), nil, nil
	}
	if user == "" {
		user = "git" // token-only servers accept any user name
	}
	return u.String(), &githttp.BasicAuth{Username: user, Password: pass}, nil
}
