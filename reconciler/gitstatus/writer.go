// Package gitstatus publishes what a Talon replica did back to Git: one status file per org
// and replica, status/<org>/<replica>.yaml, on a status branch of the config repository,
// in one commit per call that changed something. Replicas writing at once each rebuild a
// push that lost the race on the new tip, touching only their own files, so no update is lost.
//
// The status branch is never the tracked branch: a mirror of the tracked branch (gitops)
// fetches that branch only, so status commits never trigger a reconcile.
package gitstatus

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/gitwrite"
)

// DefaultBranch is the status branch unless New is given another.
const DefaultBranch = "talon-status"

// Dir is the directory of the status branch that holds status/<org>/<replica>.yaml.
const Dir = "status"

// ErrRetriesExhausted is returned (wrapped, together with gitwrite.ErrStale) by Publish when
// every attempt lost the race against other writers. Nothing was lost: the next Publish
// writes the same statuses.
var ErrRetriesExhausted = errors.New("status push lost the race on every attempt")

// Writer publishes the statuses of one replica. Its methods are safe for concurrent use;
// calls to Publish are serialized.
type Writer struct {
	remote  *gitwrite.Remote
	branch  string
	replica string
	o       options

	mu    sync.Mutex
	cache map[string]cached // org → what this replica's file at the tip holds
	stats Stats
}

type cached struct {
	hash   plumbing.Hash
	status *Status // nil when the file did not parse
}

// Stats counts what a Writer did.
type Stats struct {
	Publishes   int // calls to Publish
	Commits     int // commits pushed
	Retries     int // pushes rebuilt after losing a race
	MaxAttempts int // most attempts a single Publish needed
}

var replicaName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)

// New returns a Writer for replica (a lowercase DNS name such as a pod name: a-z, 0-9, '.'
// and '-') publishing to branch (DefaultBranch when "") of the repository at repoURL (a
// path, file://, git://, http:// or https:// URL). auth may be nil. New does no network I/O.
func New(repoURL string, auth transport.AuthMethod, branch, replica string, opts ...Option) (*Writer, error) {
	o := defaults()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("status writer: %w", err)
		}
	}
	if branch == "" {
		branch = DefaultBranch
	}
	if err := gitwrite.ValidateBranch(branch); err != nil {
		return nil, fmt.Errorf("status writer: %w", err)
	}
	if !replicaName.MatchString(replica) {
		return nil, fmt.Errorf("status writer: replica %q is not a lowercase DNS name (a-z, 0-9, '.', '-'; at most 253)", replica)
	}
	remote, err := gitwrite.Open(o.dir, repoURL, auth)
	if err != nil {
		return nil, fmt.Errorf("status writer: %w", err)
	}
	return &Writer{remote: remote, branch: branch, replica: replica, o: o, cache: map[string]cached{}}, nil
}

// Branch returns the status branch.
func (w *Writer) Branch() string { return w.branch }

// Stats returns what the Writer has done so far.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// FilePath returns the path of org's status file written by replica.
func FilePath(org, replica string) string { return path.Join(Dir, org, replica+".yaml") }

// Publish writes statuses, this replica's complete report keyed by org, to the status
// branch in one commit and returns it, with changed true. A file of this replica for an org
// missing from statuses is deleted. When every file already reads as it would be written
// (timestamps kept stable, see Status), nothing is committed: Publish returns the branch's
// head and false. The first Publish to a repository without the branch creates it as an
// orphan (a commit without parents). A push that loses a race is rebuilt on the new head
// and retried with capped exponential backoff and jitter; after the last attempt the error
// wraps ErrRetriesExhausted. Other errors (network, authentication) are returned at once.
func (w *Writer) Publish(ctx context.Context, statuses map[string]Status) (commit string, changed bool, err error) {
	for org := range statuses {
		if err := policy.ValidateOrgName(org); err != nil {
			return "", false, fmt.Errorf("publish status: %w", err)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stats.Publishes++
	tries, err := gitwrite.RetryStale(ctx, w.o.attempts, w.o.baseDelay, w.o.maxDelay,
		fmt.Sprintf("publish status of %s to %s", w.replica, w.branch), ErrRetriesExhausted, func() error {
			var err error
			commit, changed, err = w.publishOnce(ctx, statuses)
			return err
		})
	w.stats.MaxAttempts = max(w.stats.MaxAttempts, tries)
	w.stats.Retries += tries - 1
	if err != nil {
		return "", false, err
	}
	if changed {
		w.stats.Commits++
	}
	return commit, changed, nil
}

// publishOnce builds one commit on the branch's current head and pushes it.
func (w *Writer) publishOnce(ctx context.Context, statuses map[string]Status) (string, bool, error) {
	head, err := w.remote.Sync(ctx, w.branch)
	if err != nil {
		return "", false, fmt.Errorf("publish status: %w", err)
	}
	var tree *object.Tree
	if !head.IsZero() {
		c, err := w.remote.Repository().CommitObject(head)
		if err != nil {
			return "", false, fmt.Errorf("publish status: head %s: %w", head, err)
		}
		if tree, err = c.Tree(); err != nil {
			return "", false, fmt.Errorf("publish status: tree of %s: %w", head, err)
		}
	}
	own, err := w.readOwn(tree)
	if err != nil {
		return "", false, err
	}
	now := w.o.now()
	var changes []gitwrite.Change
	var notes []orgChange
	for _, org := range sortedKeys(statuses) {
		prev := own[org]
		st := stabilize(prev.status, statuses[org], now)
		data, err := Render(org, w.replica, st)
		if err != nil {
			return "", false, err
		}
		if len(data) > w.o.maxFile {
			return "", false, fmt.Errorf("publish status: status of %s is %d bytes, over the %d-byte limit; shorten its validation report or monitoring summary",
				org, len(data), w.o.maxFile)
		}
		if prev.hash == plumbing.ComputeHash(plumbing.BlobObject, data) {
			continue
		}
		h, err := w.remote.WriteBlob(data)
		if err != nil {
			return "", false, fmt.Errorf("publish status: %w", err)
		}
		changes = append(changes, gitwrite.Change{Path: FilePath(org, w.replica), Mode: filemode.Regular, Hash: h})
		notes = append(notes, orgChange{org: org, status: st})
	}
	for _, org := range sortedKeys(own) {
		if _, ok := statuses[org]; !ok {
			changes = append(changes, gitwrite.Change{Path: FilePath(org, w.replica), Delete: true})
			notes = append(notes, orgChange{org: org, removed: true})
		}
	}
	if len(changes) == 0 {
		if head.IsZero() {
			return "", false, nil
		}
		return head.String(), false, nil
	}
	sort.Slice(notes, func(i, j int) bool { return notes[i].org < notes[j].org })
	var base plumbing.Hash
	if tree != nil {
		base = tree.Hash
	}
	treeHash, err := w.remote.EditTree(base, changes)
	if err != nil {
		return "", false, fmt.Errorf("publish status: %w", err)
	}
	sig := object.Signature{Name: w.o.name, Email: w.o.email, When: now}
	c := &object.Commit{Author: sig, Committer: sig, Message: message(w.replica, notes), TreeHash: treeHash}
	if !head.IsZero() {
		c.ParentHashes = []plumbing.Hash{head}
	}
	next, err := w.remote.WriteCommit(c)
	if err != nil {
		return "", false, fmt.Errorf("publish status: %w", err)
	}
	if err := w.remote.Push(ctx, w.branch, head, next); err != nil {
		return "", false, fmt.Errorf("publish status: %w", err)
	}
	return next.String(), true, nil
}

// readOwn returns this replica's status files in tree (nil: the branch does not exist), by
// org, parsing only those whose blob changed since the last call.
func (w *Writer) readOwn(tree *object.Tree) (map[string]cached, error) {
	own := map[string]cached{}
	if tree == nil {
		return own, nil
	}
	dir, err := tree.Tree(Dir)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return own, nil
	} else if err != nil {
		return nil, fmt.Errorf("publish status: read %s/: %w", Dir, err)
	}
	name := w.replica + ".yaml"
	for _, e := range dir.Entries {
		if e.Mode != filemode.Dir || policy.ValidateOrgName(e.Name) != nil {
			continue
		}
		sub, err := dir.Tree(e.Name)
		if err != nil {
			return nil, fmt.Errorf("publish status: read %s/%s/: %w", Dir, e.Name, err)
		}
		f, err := sub.FindEntry(name)
		if err != nil || !f.Mode.IsFile() {
			continue
		}
		if c, ok := w.cache[e.Name]; ok && c.hash == f.Hash {
			own[e.Name] = c
			continue
		}
		c := cached{hash: f.Hash}
		if data, err := w.remote.ReadBlob(f.Hash, int64(w.o.maxFile)); err == nil {
			if _, _, st, err := Parse(data); err == nil {
				c.status = &st
			}
		}
		own[e.Name] = c
	}
	w.cache = own
	return own, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
