package rollback

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Reverter commits Talon's auto-rollbacks to one config repository branch. It satisfies
// the reconciler's Reverter interface.
type Reverter struct {
	// URL, Auth and Branch name the config repository and its tracked branch.
	URL    string
	Auth   transport.AuthMethod
	Branch string
	// Dir holds the local bare repository the reverts are built in ("" keeps it in memory).
	Dir string
	// AuthorName and AuthorEmail sign the revert commits.
	AuthorName, AuthorEmail string
}

// Revert reverts the last change of org's desired model while the org still desires
// ifVersion, with evidence after git's "This reverts commit …" line. When another replica
// already rolled back (the desired state changed), it returns "" and no error.
func (r Reverter) Revert(ctx context.Context, org, ifVersion, evidence string) (string, error) {
	opts := []Option{WithIfVersion(ifVersion), WithEvidence(evidence)}
	if r.AuthorName != "" {
		opts = append(opts, WithAuthor(r.AuthorName, r.AuthorEmail))
	}
	if r.Dir != "" {
		opts = append(opts, WithDir(r.Dir))
	}
	res, err := Revert(ctx, r.URL, r.Auth, r.Branch, org, opts...)
	if errors.Is(err, ErrDesiredChanged) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("auto-rollback of %s: %w", org, err)
	}
	return res.Head, nil
}
