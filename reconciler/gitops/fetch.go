package gitops

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

var (
	// ErrBranchNotFound is returned (wrapped) by Fetch when the remote has no such branch.
	ErrBranchNotFound = errors.New("branch not found on remote")
	// ErrEmptyRemote is returned (wrapped) by Fetch when the remote repository has no commits
	// at all; go-git cannot fetch from it until someone pushes a first commit.
	ErrEmptyRemote = errors.New("remote repository is empty")
	// ErrRepositoryNotFound is returned (wrapped) by Fetch when the server has no repository
	// at the URL.
	ErrRepositoryNotFound = errors.New("remote repository not found")
)

// FetchResult is what Fetch observed.
type FetchResult struct {
	// Commit is the tracked branch's head after the fetch (equal to Previous when unchanged).
	Commit plumbing.Hash
	// Previous is the head before the fetch; the zero hash on the first fetch.
	Previous plumbing.Hash
	// Changed reports whether Commit differs from Previous.
	Changed bool
	// Fetched reports whether a fetch (pack negotiation, and any object transfer) ran. It is
	// false when the remote head equalled the mirror's: then only the refs were listed.
	Fetched bool
	// MaintainErr is set when the fetch succeeded but the pack consolidation Fetch ran after
	// it (see Maintain) failed. The mirror still reads every object; log it. Fetch tries
	// again once another pack has arrived.
	MaintainErr error
}

// Fetch asks the remote for its refs and compares the tracked branch's head with the mirror's
// last fetched commit. When they are equal (and that commit is in the mirror) it returns
// Changed false without fetching any object. Otherwise it fetches only that branch, forced
// (+refs/heads/<branch>:refs/remotes/origin/<branch>) so a rewritten history is followed,
// without tags. Older commits stay readable. Bound the call with ctx: the default is no
// timeout. Afterwards it consolidates the mirror's packs when there are too many (see
// WithPackLimit).
func (m *Mirror) Fetch(ctx context.Context) (FetchResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, _ := m.headLocked()
	res, err := m.fetchListed(ctx, prev)
	return m.afterFetch(ctx, res, err)
}

// FetchHint is Fetch for a caller that was told which commit the tracked branch points to
// now, such as a push webhook's head commit. When hint is a commit the mirror does not hold,
// FetchHint fetches the branch at once (same refspec, forced, no tags), in one connection to
// the remote where Fetch makes two: Fetch lists the remote's refs in a connection of its own
// before fetching. In every other case (the zero hash, or a commit the mirror already has,
// which may be a stale hint while the branch has moved on) it is Fetch. The hint only chooses
// the path and is trusted for nothing else: the result is the head the remote reports, so a
// hint for a commit that is not on the branch changes nothing but the skipped listing. When
// that fetch fails, FetchHint runs Fetch, which returns the same errors as without a hint
// (ErrBranchNotFound with the remote's branches, ErrEmptyRemote, ErrRepositoryNotFound).
// When the branch had not moved, the result has Fetched false, as Fetch's would.
func (m *Mirror) FetchHint(ctx context.Context, hint plumbing.Hash) (FetchResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, _ := m.headLocked()
	if !hint.IsZero() && !m.hasCommit(hint) {
		if res, err := m.fetchDirect(ctx, prev); err == nil {
			return m.afterFetch(ctx, res, nil)
		}
	}
	res, err := m.fetchListed(ctx, prev)
	return m.afterFetch(ctx, res, err)
}

// fetchListed is Fetch with m.mu held; prev is the mirror's head before the call.
func (m *Mirror) fetchListed(ctx context.Context, prev plumbing.Hash) (FetchResult, error) {
	res := FetchResult{Previous: prev}
	remote := m.remote()
	refs, err := remote.ListContext(TransportContext(ctx, m.url), &git.ListOptions{Auth: m.auth, PeelingOption: git.IgnorePeeled})
	if err != nil {
		return res, m.remoteErr(ctx, "list refs of", err)
	}
	want := plumbing.NewBranchReferenceName(m.branch)
	var remoteHead plumbing.Hash
	var branches []string
	for _, r := range refs {
		if r.Name() == want && r.Type() == plumbing.HashReference {
			remoteHead = r.Hash()
		}
		if r.Name().IsBranch() {
			branches = append(branches, r.Name().Short())
		}
	}
	if remoteHead.IsZero() {
		return res, m.branchErr(branches)
	}
	if remoteHead == prev && m.hasCommit(prev) {
		res.Commit = prev
		return res, nil
	}

	res.Fetched = true
	if err := m.fetchBranch(ctx, remote); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return res, m.remoteErr(ctx, "fetch", err)
	}
	return m.fetchedHead(res)
}

// fetchDirect fetches the tracked branch without listing the remote's refs first, with m.mu
// held; prev is the mirror's head before the call. Its errors are go-git's, unwrapped: the
// caller falls back to fetchListed, which explains them.
func (m *Mirror) fetchDirect(ctx context.Context, prev plumbing.Hash) (FetchResult, error) {
	res := FetchResult{Previous: prev}
	err := m.fetchBranch(ctx, m.remote())
	upToDate := errors.Is(err, git.NoErrAlreadyUpToDate)
	if err != nil && !upToDate {
		return res, err
	}
	// Already up to date means go-git wanted no object and moved no ref: the remote's head
	// is prev, which the mirror holds, so only the refs were listed.
	res.Fetched = !upToDate
	return m.fetchedHead(res)
}

// fetchBranch fetches the tracked branch into its tracking ref: forced, without tags.
func (m *Mirror) fetchBranch(ctx context.Context, remote *git.Remote) error {
	return remote.FetchContext(TransportContext(ctx, m.url), &git.FetchOptions{
		RemoteName: RemoteName,
		RefSpecs:   []config.RefSpec{m.refSpec()},
		Auth:       m.auth,
		Tags:       git.NoTags,
		Force:      true,
	})
}

// fetchedHead completes res after a fetch from the tracking ref, which must name a commit
// the mirror holds.
func (m *Mirror) fetchedHead(res FetchResult) (FetchResult, error) {
	head, ok := m.headLocked()
	if !ok {
		return res, fmt.Errorf("fetch %s branch %s: ref %s not written", m.display, m.branch, m.trackingRef())
	}
	if _, err := m.repo.CommitObject(head); err != nil {
		return res, fmt.Errorf("fetch %s branch %s: head %s is not a commit in the mirror: %w",
			m.display, m.branch, ShortHash(head), err)
	}
	res.Commit = head
	res.Changed = head != res.Previous
	return res, nil
}

// hasCommit reports whether the mirror holds commit h.
func (m *Mirror) hasCommit(h plumbing.Hash) bool {
	if h.IsZero() {
		return false
	}
	_, err := m.repo.CommitObject(h)
	return err == nil
}

// branchErr explains that the tracked branch is missing and names the branches there are.
func (m *Mirror) branchErr(branches []string) error {
	sort.Strings(branches)
	have := "it has no branches"
	if len(branches) > 0 {
		const show = 10
		list := branches
		if len(list) > show {
			list = list[:show]
		}
		have = "it has " + strings.Join(list, ", ")
		if len(branches) > show {
			have += fmt.Sprintf(" and %d more", len(branches)-show)
		}
	}
	return fmt.Errorf("%w: %s has no branch %q (%s); push it or choose another with --branch",
		ErrBranchNotFound, m.display, m.branch, have)
}

// remoteErr wraps a go-git transport error with what was being done, the URL (without
// credentials) and the branch, mapping known conditions to this package's sentinels.
func (m *Mirror) remoteErr(ctx context.Context, doing string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s %s branch %s: %w", doing, m.display, m.branch, ctx.Err())
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("%w: %s has no commits; push a first commit to branch %q", ErrEmptyRemote, m.display, m.branch)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%w: %s (check the URL)", ErrRepositoryNotFound, m.display)
	}
	return fmt.Errorf("%s %s branch %s: %w", doing, m.display, m.branch, RedactErr(err))
}
