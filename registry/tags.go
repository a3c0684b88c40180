package registry

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// MaxTags bounds how many tags ListTags returns; a repository with more is an error.
const MaxTags = 100000

// ListTags returns every tag of repository ("host/repo", without tag or digest), following
// the registry's pagination, in the registry's order (lexical for distribution), each tag
// once. A registry whose next page only repeats earlier tags is an error. It is
// what semver ranges are resolved against (policy.ResolveSemver). A missing repository is
// an error wrapping ErrNotFound; a repository with more than MaxTags tags wraps ErrTooLarge.
func (c *Client) ListTags(ctx context.Context, repository string) ([]string, error) {
	repo, err := c.parseRepository(repository)
	if err != nil {
		return nil, err
	}
	wrap := func(err error) error {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("list tags of %s: %w", repo, ctx.Err())
		case isNotFound(err):
			return fmt.Errorf("list tags of %s: %w: no such repository (push to it first, or fix model.repository)", repo, ErrNotFound)
		}
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	puller, err := remote.NewPuller(c.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	lister, err := puller.Lister(ctx, repo)
	if err != nil {
		return nil, wrap(err)
	}
	var tags []string
	seen := map[string]bool{}
	for lister.HasNext() {
		page, err := lister.Next(ctx)
		if err != nil {
			return nil, wrap(err)
		}
		fresh := 0
		for _, t := range page.Tags {
			if !seen[t] {
				seen[t] = true
				tags = append(tags, t)
				fresh++
			}
		}
		if fresh == 0 && len(page.Tags) > 0 {
			return nil, fmt.Errorf("list tags of %s: the registry repeats tags it already listed; its pagination is broken", repo)
		}
		if len(tags) > MaxTags {
			return nil, fmt.Errorf("list tags of %s: %w: more than %d tags", repo, ErrTooLarge, MaxTags)
		}
	}
	return tags, nil
}

// parseRepository parses "host/repo", marked insecure as ParseReference marks references.
func (c *Client) parseRepository(s string) (name.Repository, error) {
	repo, err := name.NewRepository(s)
	if err != nil {
		return name.Repository{}, fmt.Errorf("parse repository %q: %w", s, err)
	}
	if c.plainHTTPAllowed(repo.RegistryStr()) {
		if repo, err = name.NewRepository(s, name.Insecure); err != nil {
			return name.Repository{}, fmt.Errorf("parse repository %q: %w", s, err)
		}
	}
	return repo, nil
}
