package registry

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Resolve turns ref into a digest reference, asking the registry exactly once per call:
// a HEAD of the manifest, falling back to a GET when HEAD fails for any reason other than
// cancellation. A digest reference is returned as is, without network I/O. A missing tag
// or repository is an error wrapping ErrNotFound.
//
// Resolve is the only place a tag is read; everything after it (signature checks, Fetch)
// must use the returned digest.
func (c *Client) Resolve(ctx context.Context, ref string) (name.Digest, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return name.Digest{}, err
	}
	if d, ok := r.(name.Digest); ok {
		return d, nil
	}
	opts := c.remoteOptions(ctx)
	desc, herr := remote.Head(r, opts...)
	if herr == nil {
		return r.Context().Digest(desc.Digest.String()), nil
	}
	if ctx.Err() != nil {
		return name.Digest{}, fmt.Errorf("resolve %s: %w", r, ctx.Err())
	}
	got, gerr := remote.Get(r, opts...)
	if gerr == nil {
		return r.Context().Digest(got.Digest.String()), nil
	}
	if isNotFound(gerr) {
		return name.Digest{}, fmt.Errorf("resolve %s: %w: tag %q does not exist in %s (push it first, or fix the version)",
			r, ErrNotFound, r.Identifier(), r.Context())
	}
	return name.Digest{}, fmt.Errorf("resolve %s: %w", r, gerr)
}

// remoteOptions are the go-containerregistry options for calls made through pkg/v1/remote.
func (c *Client) remoteOptions(ctx context.Context) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithTransport(c.base),
	}
	if c.userAgent != "" {
		opts = append(opts, remote.WithUserAgent(c.userAgent))
	}
	return opts
}

// repoConn is an authenticated HTTP client for one repository (pull scope).
type repoConn struct {
	repo   name.Repository
	client *http.Client
}

// connect authenticates to repo for pulling: credentials from the keychain, then the
// registry's challenge (anonymous, basic or bearer token).
func (c *Client) connect(ctx context.Context, repo name.Repository) (*repoConn, error) {
	auth, err := authn.Resolve(ctx, c.keychain, repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo, err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, c.rt, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", repo, err)
	}
	return &repoConn{repo: repo, client: &http.Client{Transport: rt, CheckRedirect: checkRedirect}}, nil
}

// url returns the registry URL of a manifest or blob; the scheme is corrected by the
// authenticated transport to whatever the registry answered on.
func (rc *repoConn) url(kind, digest string) string {
	return fmt.Sprintf("%s://%s/v2/%s/%s/%s", rc.repo.Scheme(), rc.repo.RegistryStr(), rc.repo.RepositoryStr(), kind, digest)
}
