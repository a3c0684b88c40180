// Package gitwrite writes commits to a branch of a remote Git repository with go-git
// plumbing: it keeps a bare repository (in memory or on disk), fetches one branch, builds
// blobs, trees and commits without a work tree, and pushes fast-forward only, reporting a
// push that lost a race as ErrStale. It never force-pushes.
package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/eaglenotifier/talon/reconciler/gitops"
)

// remoteName is the name of the only remote; it is never written to the repository's config.
const remoteName = "origin"

// DefaultAuthorName and DefaultAuthorEmail sign the commits Talon writes (status,
// rollbacks, promotions) unless told otherwise.
const (
	DefaultAuthorName  = "Talon"
	DefaultAuthorEmail = "talon@localhost"
)

var (
	// ErrStale is returned (wrapped) by Push when the remote branch no longer points at the
	// commit the new one was built on: another writer won the race. Rebuild on the new tip
	// and push again.
	ErrStale = errors.New("remote branch moved")
	// ErrRepositoryNotFound is returned (wrapped) when the server has no repository at the URL.
	ErrRepositoryNotFound = errors.New("remote repository not found")
)

// Remote is a bare repository that mirrors branches of one remote repository and pushes
// commits to it. Its methods are safe for concurrent use; they are serialized.
type Remote struct {
	url     string // as go-git needs it, possibly with credentials
	display string // url without credentials, for messages
	auth    transport.AuthMethod

	mu   sync.Mutex
	repo *git.Repository
}

// Open returns a Remote for url (a local path, or a file://, git://, http:// or https://
// URL) backed by the bare repository at dir, created when missing, or by memory when dir
// is "". Open does no network I/O. auth may be nil (credentials in an http(s) URL are then
// used); credentials never appear in errors or in the repository's files.
func Open(dir, rawURL string, auth transport.AuthMethod) (*Remote, error) {
	norm, display, err := gitops.NormalizeURL(rawURL)
	if err != nil {
		return nil, err
	}
	var repo *git.Repository
	if dir == "" {
		repo, err = git.Init(memory.NewStorage(), nil)
	} else {
		repo, err = git.PlainOpen(dir)
		if errors.Is(err, git.ErrRepositoryNotExists) {
			repo, err = git.PlainInit(dir, true)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open bare repository %s: %w", dir, err)
	}
	return &Remote{url: norm, display: display, auth: auth, repo: repo}, nil
}

// URL returns the remote's URL without credentials.
func (r *Remote) URL() string { return r.display }

// Repository returns the local bare repository, to read the objects fetched or written.
// Do not use it while another goroutine calls the Remote's methods.
func (r *Remote) Repository() *git.Repository { return r.repo }

func (r *Remote) remote(branch string) *git.Remote {
	return git.NewRemote(r.repo.Storer, &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{r.url},
		Fetch: []config.RefSpec{fetchSpec(branch)},
	})
}

func fetchSpec(branch string) config.RefSpec {
	return config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(branch), trackingRef(branch)))
}

func trackingRef(branch string) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(remoteName, branch)
}

// ValidateBranch reports whether name is a valid short branch name.
func ValidateBranch(name string) error {
	if name == "" || strings.HasPrefix(name, "refs/") {
		return fmt.Errorf("branch %q: give a short branch name such as main", name)
	}
	if err := plumbing.NewBranchReferenceName(name).Validate(); err != nil {
		return fmt.Errorf("branch %q: %w", name, err)
	}
	return nil
}

// Head lists the remote's refs and returns the commit branch points at, or the zero hash
// when the branch does not exist or the repository is empty.
func (r *Remote) Head(ctx context.Context, branch string) (plumbing.Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headLocked(ctx, branch)
}

func (r *Remote) headLocked(ctx context.Context, branch string) (plumbing.Hash, error) {
	refs, err := r.remote(branch).ListContext(gitops.TransportContext(ctx, r.url), &git.ListOptions{Auth: r.auth, PeelingOption: git.IgnorePeeled})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, r.remoteErr(ctx, "list refs of", branch, err)
	}
	want := plumbing.NewBranchReferenceName(branch)
	for _, ref := range refs {
		if ref.Name() == want && ref.Type() == plumbing.HashReference {
			return ref.Hash(), nil
		}
	}
	return plumbing.ZeroHash, nil
}

// Sync makes the local repository hold the remote branch's current head and its history
// and returns that head: the zero hash when the branch does not exist. When the head is
// already held locally, only the refs are listed.
func (r *Remote) Sync(ctx context.Context, branch string) (plumbing.Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	head, err := r.headLocked(ctx, branch)
	if err != nil || head.IsZero() {
		return head, err
	}
	if _, err := r.repo.CommitObject(head); err == nil {
		return head, nil
	}
	err = r.remote(branch).FetchContext(gitops.TransportContext(ctx, r.url), &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{fetchSpec(branch)},
		Auth:       r.auth,
		Tags:       git.NoTags,
		Force:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return plumbing.ZeroHash, r.remoteErr(ctx, "fetch", branch, err)
	}
	ref, err := r.repo.Storer.Reference(trackingRef(branch))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s branch %s: %w", r.display, branch, err)
	}
	if _, err := r.repo.CommitObject(ref.Hash()); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s branch %s: head %s missing after fetch: %w",
			r.display, branch, ref.Hash(), err)
	}
	return ref.Hash(), nil
}

// Push sets the remote branch to commit next, which must be held locally and descend from
// old, the head the caller built on (the zero hash: the branch must not exist yet). It
// never forces. When the branch no longer points at old, Push returns an error wrapping
// ErrStale; nothing was changed and the caller should Sync, rebuild and push again.
func (r *Remote) Push(ctx context.Context, branch string, old, next plumbing.Hash) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	dst := plumbing.NewBranchReferenceName(branch)
	opts := &git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(next.String() + ":" + dst.String())},
		Auth:       r.auth,
	}
	if !old.IsZero() {
		opts.RequireRemoteRefs = []config.RefSpec{config.RefSpec(old.String() + ":" + dst.String())}
	}
	err := r.remote(branch).PushContext(gitops.TransportContext(ctx, r.url), opts)
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if ctx.Err() != nil {
		return r.remoteErr(ctx, "push to", branch, err)
	}
	// Whatever the error says, the remote's head tells whether the race was lost: the
	// receiving side compares and swaps the ref, so a moved head means nothing was written.
	head, lerr := r.headLocked(ctx, branch)
	switch {
	case lerr != nil:
		return r.remoteErr(ctx, "push to", branch, err)
	case head == next:
		return nil
	case head != old:
		return fmt.Errorf("push to %s branch %s: %w (built on %s, now at %s)",
			r.display, branch, ErrStale, short(old), short(head))
	}
	return r.remoteErr(ctx, "push to", branch, err)
}

func short(h plumbing.Hash) string {
	if h.IsZero() {
		return "nothing (no branch)"
	}
	return h.String()[:7]
}

// remoteErr wraps a go-git transport error with what was being done and the URL without
// credentials.
func (r *Remote) remoteErr(ctx context.Context, doing, branch string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s %s branch %s: %w", doing, r.display, branch, ctx.Err())
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%w: %s (check the URL)", ErrRepositoryNotFound, r.display)
	}
	return fmt.Errorf("%s %s branch %s: %w", doing, r.display, branch, gitops.RedactErr(err))
}
