// Package rollback undoes an org's last desired-model change in the config repository the
// way a person would with `git revert`: it finds the last commit that changed the `model:`
// section of orgs/<org>.yaml and pushes a revert of that whole commit, with git's own
// message, computed and pushed with go-git plumbing (no work tree). A revert that does not
// apply cleanly to the branch head changes nothing.
//
// Which commit is reverted: walking the branch's first-parent history from its head (into a
// merged branch when a merge brought the change), the newest commit whose `model:` section
// (repository, version, semver, digest; comments and formatting do not count) differs from
// its parent's and that is still in effect. A revert commit ("This reverts commit <sha>.")
// and the commit it reverted are both skipped, so rolling back twice goes back two versions
// instead of undoing the first rollback.
//
// Clean: for every file the reverted commit touched, the head's version is merged three
// ways with git's rules (base: the file in the commit; ours: the head's; theirs: the file
// in the commit's parent). A file unchanged since the commit simply returns to its parent's
// state; a file changed since, in lines away from the commit's change, keeps those changes;
// changes in the same or adjacent lines, deletions against edits, and binary files changed
// on both sides are conflicts. Where git's diff would align lines differently the result
// may differ from `git revert`; for the edits an org file sees it is the same.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/gitwrite"
)

var (
	// ErrNotClean is returned (as a *NotCleanError) when the revert conflicts with later
	// commits on the branch; nothing was pushed.
	ErrNotClean = errors.New("revert does not apply cleanly")
	// ErrNothingToRevert is returned (wrapped) when the branch has no change of the org's
	// model that can be reverted: no such commit, or the only one created the org file.
	ErrNothingToRevert = errors.New("nothing to roll back")
	// ErrVersionNotFound is returned (wrapped) when WithTo names a version that reverting the
	// org's earlier model changes never reaches; nothing was pushed.
	ErrVersionNotFound = errors.New("version not found in the org's history")
	// ErrDesiredChanged is returned (wrapped) when WithIfVersion's precondition does not hold
	// at the branch head: someone changed the org's model meanwhile; nothing was pushed.
	ErrDesiredChanged = errors.New("the org's desired model changed")
	// ErrRetriesExhausted is returned (wrapped) when every push lost the race to other writers.
	ErrRetriesExhausted = errors.New("rollback push lost the race on every attempt")
)

// NotCleanError says why a revert is not clean: which files conflict and which later
// commits changed them.
type NotCleanError struct {
	Org     string
	Commit  string   // full sha of the commit that could not be reverted
	Subject string   // its subject
	Files   []string // conflicting paths
	Later   []string // later commits touching them, "<short sha> <subject>", newest first
}

func (e *NotCleanError) Error() string {
	s := fmt.Sprintf("%s: cannot revert %s %q cleanly: %s changed since", e.Org, e.Commit[:7], e.Subject,
		strings.Join(e.Files, ", "))
	if len(e.Later) > 0 {
		s += " by " + strings.Join(e.Later, "; ")
	}
	return s + "; nothing was pushed: resolve it by hand (git revert " + e.Commit[:7] + ")"
}

// Is makes errors.Is(err, ErrNotClean) true.
func (e *NotCleanError) Is(target error) bool { return target == ErrNotClean }

// Result is what Revert did.
type Result struct {
	// Branch is the branch written to.
	Branch string
	// Head is the branch's head afterwards: the last revert commit, or the unchanged head
	// when there was nothing to do (WithTo naming the version already asked for).
	Head string
	// Commits are the revert commits pushed, in order (several only with WithTo).
	Commits []Commit
	// From and To describe the org's desired model before and after, such as "v1.4.2".
	From, To string
	// Attempts is how many times the revert was built and pushed (1 without a race).
	Attempts int
}

// Commit is one revert commit.
type Commit struct {
	Hash    string // full sha of the revert commit
	Subject string // Revert "<subject of the reverted commit>"
	Reverts string // full sha of the reverted commit
}

// Revert reverts the last change of org's desired model on branch of the repository at
// repoURL (a path, file://, git://, http:// or https:// URL; auth may be nil) and pushes
// the revert. With
// WithTo it reverts successive changes, one revert commit each like `git revert A B`, until
// the org asks for that version. It changes nothing and returns *NotCleanError (ErrNotClean)
// when a revert conflicts with later commits, and ErrNothingToRevert, ErrVersionNotFound or
// ErrDesiredChanged as documented there. A push that loses a race is rebuilt from the new
// head, choosing the commit again, with capped, jittered backoff.
func Revert(ctx context.Context, repoURL string, auth transport.AuthMethod, branch, org string, opts ...Option) (Result, error) {
	o := defaults()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return Result{}, fmt.Errorf("rollback: %w", err)
		}
	}
	if err := gitwrite.ValidateBranch(branch); err != nil {
		return Result{}, fmt.Errorf("rollback: %w", err)
	}
	if err := policy.ValidateOrgName(org); err != nil {
		return Result{}, fmt.Errorf("rollback: %w", err)
	}
	remote, err := gitwrite.Open(o.dir, repoURL, auth)
	if err != nil {
		return Result{}, fmt.Errorf("rollback: %w", err)
	}
	var res Result
	tries, err := gitwrite.RetryStale(ctx, o.attempts, o.baseDelay, o.maxDelay,
		fmt.Sprintf("rollback %s on %s", org, branch), ErrRetriesExhausted, func() error {
			var err error
			res, err = revertOnce(ctx, remote, branch, org, o)
			return err
		})
	res.Attempts = tries
	return res, err
}

// revertOnce builds the revert commits on the branch's current head and pushes them.
func revertOnce(ctx context.Context, remote *gitwrite.Remote, branch, org string, o options) (Result, error) {
	res := Result{Branch: branch}
	head, err := remote.Sync(ctx, branch)
	if err != nil {
		return res, fmt.Errorf("rollback %s: %w", org, err)
	}
	if head.IsZero() {
		return res, fmt.Errorf("rollback %s: %s has no branch %q: %w", org, remote.URL(), branch, ErrNothingToRevert)
	}
	h := newHistory(remote, org, o.maxCommits)
	tip, err := h.commit(head)
	if err != nil {
		return res, err
	}
	h.head = tip
	now, err := h.modelAt(tip)
	if err != nil {
		return res, err
	}
	res.Head, res.From, res.To = head.String(), now.describe(), now.describe()
	if o.ifVersion != "" && !now.matches(o.ifVersion) {
		return res, fmt.Errorf("rollback %s: %s asks for %s at %s, not %s: %w",
			org, branch, now.describe(), head.String()[:7], o.ifVersion, ErrDesiredChanged)
	}
	if o.to != "" && now.matches(o.to) {
		return res, nil
	}
	cands, err := h.changes(ctx, tip)
	if err != nil {
		return res, err
	}
	unchanged := res // what an error returns: nothing was pushed
	parent, tree := head, tip.TreeHash
	var seen []string
	for _, c := range cands {
		if len(res.Commits) == maxReverts {
			return unchanged, fmt.Errorf("rollback %s: %s is more than %d model changes back: %w", org, o.to, maxReverts, ErrVersionNotFound)
		}
		if !c.before.present || c.before.invalid != "" {
			if o.to == "" {
				return unchanged, fmt.Errorf("rollback %s: the only change to revert is %s %q, which gave the org %s; reverting it would leave %s: %w",
					org, c.commit.Hash.String()[:7], subject(c.commit), c.after.describe(), c.before, ErrNothingToRevert)
			}
			break
		}
		newTree, err := revertTree(ctx, h, c.commit, tree)
		if err != nil {
			return unchanged, err
		}
		if newTree == tree {
			return unchanged, fmt.Errorf("rollback %s: reverting %s %q changes nothing at the head of %s: %w",
				org, c.commit.Hash.String()[:7], subject(c.commit), branch, ErrNothingToRevert)
		}
		msg := revertMessage(c.commit, o.evidence)
		sig := object.Signature{Name: o.name, Email: o.email, When: o.now()}
		next, err := remote.WriteCommit(&object.Commit{Author: sig, Committer: sig, Message: msg,
			TreeHash: newTree, ParentHashes: []plumbing.Hash{parent}})
		if err != nil {
			return unchanged, fmt.Errorf("rollback %s: %w", org, err)
		}
		res.Commits = append(res.Commits, Commit{Hash: next.String(), Subject: firstLine(msg), Reverts: c.commit.Hash.String()})
		parent, tree = next, newTree
		after, err := h.modelInTree(tree)
		if err != nil {
			return unchanged, err
		}
		res.To = after.describe()
		seen = append(seen, c.before.describe())
		if o.to == "" || after.matches(o.to) {
			if err := remote.Push(ctx, branch, head, next); err != nil {
				return unchanged, fmt.Errorf("rollback %s: %w", org, err)
			}
			res.Head = next.String()
			return res, nil
		}
	}
	if o.to == "" {
		return unchanged, fmt.Errorf("rollback %s: no commit on %s changed its model: %w", org, branch, ErrNothingToRevert)
	}
	return unchanged, fmt.Errorf("rollback %s: reverting its model changes on %s never reaches %s (it went through %s): %w",
		org, branch, o.to, orNone(seen), ErrVersionNotFound)
}

// maxReverts bounds how many commits one WithTo rollback reverts.
const maxReverts = 50

func orNone(s []string) string {
	if len(s) == 0 {
		return "no earlier version"
	}
	return strings.Join(s, ", ")
}

// revertMessage is git revert's message for c, then the evidence paragraphs, if any.
func revertMessage(c *object.Commit, evidence string) string {
	msg := fmt.Sprintf("Revert \"%s\"\n\nThis reverts commit %s.\n", subject(c), c.Hash)
	if e := cleanParagraphs(evidence); e != "" {
		msg += "\n" + e + "\n"
	}
	return msg
}

// subject is a commit's subject as git revert takes it: the first line of the message after
// any leading blank lines, without trailing white space.
func subject(c *object.Commit) string {
	m := strings.TrimLeft(c.Message, "\n")
	line, _, _ := strings.Cut(m, "\n")
	return strings.TrimRight(line, " \t\r")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// cleanParagraphs trims trailing white space from each line and blank lines at both ends,
// and collapses runs of blank lines, as git's message cleanup does.
func cleanParagraphs(s string) string {
	var out []string
	blank := false
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" {
			blank = len(out) > 0
			continue
		}
		if blank {
			out = append(out, "")
			blank = false
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
