// Package promote commits an org's automatic promotion (cicd.autoPromote) to the config
// repository: the org file with its model.version set to a newly pushed tag, every other
// byte as it was, as one commit on the tracked branch (to: direct) or on a review branch
// a person turns into a pull request (to: review). Like reconciler/rollback it works with
// go-git plumbing in a bare repository (no work tree), never forces a push, and rebuilds
// a push that lost a race from the new head, with capped, jittered backoff.
//
// A review branch that does not exist yet starts from the tracked branch's head; one that
// exists (an open pull request) gets the commit on top, as Flux's image automation does.
// When the branch already asks for the tag, nothing is committed: several replicas that
// find the same tag make one commit. Nor is an artifact promoted twice: when the history
// already holds a promotion of its digest (since reverted, or pending review), whichever
// replica made it, nothing is committed.
package promote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/gitwrite"
)

// Defaults of a Promoter.
const (
	DefaultAttempts  = 5
	DefaultBaseDelay = 100 * time.Millisecond
	DefaultMaxDelay  = 2 * time.Second
	maxOrgFile       = 1 << 20
)

// ErrRetriesExhausted is returned (wrapped) when every push lost the race to other writers.
var ErrRetriesExhausted = errors.New("promotion push lost the race on every attempt")

// Request is one promotion.
type Request struct {
	Org    string // the org
	File   string // its file in the repository, orgs/<org>.yaml
	Tag    string // the version to promote to
	Digest string // the digest the tag resolved to and whose signature was verified
	Range  string // the autoPromote semver range that chose the tag
	Signer string // the fingerprint of the key that verified it
	Branch string // where the commit goes: the tracked branch, or a review branch
}

// Result is what Promote did.
type Result struct {
	Branch   string
	Commit   string // the commit pushed; "" when Branch already asked for the tag
	Attempts int
}

// Promoter commits promotions to one config repository.
type Promoter struct {
	// URL and Auth name the config repository; Tracked is the branch Talon reconciles
	// from, where a new review branch starts.
	URL     string
	Auth    transport.AuthMethod
	Tracked string
	// Dir holds the local bare repository commits are built in ("" keeps it in memory).
	Dir string
	// AuthorName and AuthorEmail sign the commits (defaults gitwrite.DefaultAuthorName,
	// gitwrite.DefaultAuthorEmail).
	AuthorName, AuthorEmail string
	// Attempts, BaseDelay and MaxDelay bound the retries of a lost push race (defaults
	// DefaultAttempts, DefaultBaseDelay, DefaultMaxDelay).
	Attempts            int
	BaseDelay, MaxDelay time.Duration
	// Now is the commit time (default time.Now).
	Now func() time.Time
}

// Promote commits req: the org file on req.Branch with model.version set to req.Tag. It
// fails, pushing nothing, when the org file is missing there or is not pinned by tag
// (policy.SetModelVersion).
func (p Promoter) Promote(ctx context.Context, req Request) (Result, error) {
	p = p.withDefaults()
	if err := policy.ValidateOrgName(req.Org); err != nil {
		return Result{}, fmt.Errorf("promote: %w", err)
	}
	for _, b := range []string{p.Tracked, req.Branch} {
		if err := gitwrite.ValidateBranch(b); err != nil {
			return Result{}, fmt.Errorf("promote %s: %w", req.Org, err)
		}
	}
	if err := gitwrite.ValidatePath(req.File); err != nil {
		return Result{}, fmt.Errorf("promote %s: %w", req.Org, err)
	}
	remote, err := gitwrite.Open(p.Dir, p.URL, p.Auth)
	if err != nil {
		return Result{}, fmt.Errorf("promote %s: %w", req.Org, err)
	}
	res := Result{Branch: req.Branch}
	res.Attempts, err = gitwrite.RetryStale(ctx, p.Attempts, p.BaseDelay, p.MaxDelay,
		fmt.Sprintf("promote %s on %s", req.Org, req.Branch), ErrRetriesExhausted, func() error {
			var err error
			res.Commit, err = p.promoteOnce(ctx, remote, req)
			return err
		})
	return res, err
}

func (p Promoter) withDefaults() Promoter {
	if p.AuthorName == "" || p.AuthorEmail == "" {
		p.AuthorName, p.AuthorEmail = gitwrite.DefaultAuthorName, gitwrite.DefaultAuthorEmail
	}
	if p.Attempts <= 0 {
		p.Attempts = DefaultAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// promoteOnce builds the commit on the branch's current head (the tracked branch's for a
// review branch not created yet) and pushes it; "" when nothing needed changing.
func (p Promoter) promoteOnce(ctx context.Context, remote *gitwrite.Remote, req Request) (string, error) {
	head, err := remote.Sync(ctx, req.Branch)
	if err != nil {
		return "", fmt.Errorf("promote %s: %w", req.Org, err)
	}
	base := head
	if head.IsZero() && req.Branch != p.Tracked {
		if base, err = remote.Sync(ctx, p.Tracked); err != nil {
			return "", fmt.Errorf("promote %s: %w", req.Org, err)
		}
	}
	if base.IsZero() {
		return "", fmt.Errorf("promote %s: branch %s not found in %s", req.Org, p.Tracked, remote.URL())
	}
	if done, err := p.promotedBefore(ctx, remote, req, base); err != nil || done {
		return "", err
	}
	c, err := remote.Repository().CommitObject(base)
	if err != nil {
		return "", fmt.Errorf("promote %s: commit %s: %w", req.Org, base, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return "", fmt.Errorf("promote %s: tree of %s: %w", req.Org, base, err)
	}
	entry, err := tree.FindEntry(req.File)
	if err != nil {
		return "", fmt.Errorf("promote %s: %s at %s: %w", req.Org, req.File, base.String()[:7], err)
	}
	data, err := remote.ReadBlob(entry.Hash, maxOrgFile)
	if err != nil {
		return "", fmt.Errorf("promote %s: %s: %w", req.Org, req.File, err)
	}
	edited, changed, err := policy.SetModelVersion(req.File, data, req.Tag)
	if err != nil || !changed {
		return "", err
	}
	blob, err := remote.WriteBlob(edited)
	if err != nil {
		return "", fmt.Errorf("promote %s: %w", req.Org, err)
	}
	newTree, err := remote.EditTree(c.TreeHash, []gitwrite.Change{{Path: req.File, Mode: entry.Mode, Hash: blob}})
	if err != nil {
		return "", fmt.Errorf("promote %s: %w", req.Org, err)
	}
	sig := object.Signature{Name: p.AuthorName, Email: p.AuthorEmail, When: p.Now()}
	next, err := remote.WriteCommit(&object.Commit{Author: sig, Committer: sig, Message: message(req),
		TreeHash: newTree, ParentHashes: []plumbing.Hash{base}})
	if err != nil {
		return "", fmt.Errorf("promote %s: %w", req.Org, err)
	}
	if err := remote.Push(ctx, req.Branch, head, next); err != nil {
		return "", err
	}
	return next.String(), nil
}

// maxHistory bounds how many commits promotedBefore reads on each branch.
const maxHistory = 2000

// promotedBefore reports whether the history of base, or of the tracked branch, holds a
// promotion of req.Digest for req.Org (its message names the digest): one made by any
// replica, since reverted or still pending review, is not made again. Git is the record
// every replica shares; a replica's own record (store.Promoted) only saves it the work.
func (p Promoter) promotedBefore(ctx context.Context, remote *gitwrite.Remote, req Request, base plumbing.Hash) (bool, error) {
	heads := []plumbing.Hash{base}
	if req.Branch != p.Tracked {
		tracked, err := remote.Sync(ctx, p.Tracked)
		if err != nil {
			return false, fmt.Errorf("promote %s: %w", req.Org, err)
		}
		heads = append(heads, tracked)
	}
	subject, marker := req.Org+": promote ", "\nDigest: "+req.Digest+"\n"
	for _, h := range heads {
		if h.IsZero() {
			continue
		}
		iter, err := remote.Repository().Log(&git.LogOptions{From: h})
		if err != nil {
			return false, fmt.Errorf("promote %s: history of %s: %w", req.Org, h, err)
		}
		found, n := false, 0
		err = iter.ForEach(func(c *object.Commit) error {
			if n++; n > maxHistory {
				return storer.ErrStop
			}
			if strings.HasPrefix(c.Message, subject) && strings.Contains(c.Message, marker) {
				found = true
				return storer.ErrStop
			}
			return nil
		})
		iter.Close()
		if err != nil || found {
			return found, err
		}
	}
	return false, nil
}

// message is the promotion commit's message: a subject in the form of Talon's status
// commits, then the evidence (a revert of it reads `Revert "acme: promote …"`).
func message(req Request) string {
	return fmt.Sprintf("%s: promote %s (%s)\n\n"+
		"Automatic promotion (cicd.autoPromote): %s is the highest tag of the model repository\n"+
		"matching %q, newer than the version this org asked for.\n\n"+
		"Digest: %s\nSigned-by: %s\n", req.Org, req.Tag, shortDigest(req.Digest), req.Tag, req.Range, req.Digest, req.Signer)
}

func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}
