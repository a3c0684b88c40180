package cosign

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/eaglenotifier/talon/registry"
)

// maxSessions bounds the sessions a Fetcher keeps; past it, it starts over.
const maxSessions = 256

// Fetcher is Fetch with one registry session kept per repository, so that repeated
// verifications (a long-running reconciler) skip the registry ping and token exchange a new
// session costs — most of Fetch's time against a nearby registry. Tokens that expire are
// renewed by the session on the registry's challenge; a session whose fetch fails for any
// reason but ErrUnsigned or ErrMalformed is dropped and reopened on the next call. It is
// safe for concurrent use. The zero value is not usable: call NewFetcher.
type Fetcher struct {
	client   *registry.Client
	mu       sync.Mutex
	sessions map[string]*registry.Repository
}

// NewFetcher returns a Fetcher reading through c.
func NewFetcher(c *registry.Client) *Fetcher {
	return &Fetcher{client: c, sessions: map[string]*registry.Repository{}}
}

// Fetch is the package-level Fetch through a kept session.
func (f *Fetcher) Fetch(ctx context.Context, d name.Digest) (*SignatureSet, error) {
	key := d.Context().Name()
	f.mu.Lock()
	repo := f.sessions[key]
	f.mu.Unlock()
	if repo == nil {
		var err error
		if repo, err = f.client.OpenRepository(ctx, d.Context()); err != nil {
			return nil, fmt.Errorf("signatures of %s: %w", d, err)
		}
		f.mu.Lock()
		if len(f.sessions) >= maxSessions {
			clear(f.sessions)
		}
		f.sessions[key] = repo
		f.mu.Unlock()
	}
	set, err := FetchFrom(ctx, repo, d)
	if err != nil && !errors.Is(err, ErrUnsigned) && !errors.Is(err, ErrMalformed) {
		f.mu.Lock()
		if f.sessions[key] == repo {
			delete(f.sessions, key)
		}
		f.mu.Unlock()
	}
	return set, err
}
