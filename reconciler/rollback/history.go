package rollback

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/gitwrite"
)

// maxOrgFile bounds the org files and the files merged by a revert.
const maxOrgFile = 1 << 20

// history reads an org's model changes from the commits of the local repository.
type history struct {
	remote *gitwrite.Remote
	org    string
	path   string // orgs/<org>.yaml
	max    int    // most commits walked
	models map[plumbing.Hash]model
	head   *object.Commit // the branch head the revert is built on
}

// change is a commit that changed the org's model: before is its parent's, after its own.
type change struct {
	commit        *object.Commit
	before, after model
}

func newHistory(remote *gitwrite.Remote, org string, maxCommits int) *history {
	return &history{remote: remote, org: org, path: policy.OrgDir + "/" + org + ".yaml",
		max: maxCommits, models: map[plumbing.Hash]model{}}
}

func (h *history) commit(hash plumbing.Hash) (*object.Commit, error) {
	c, err := h.remote.Repository().CommitObject(hash)
	if err != nil {
		return nil, fmt.Errorf("rollback %s: commit %s: %w", h.org, hash, err)
	}
	return c, nil
}

// modelAt is the org's model at commit c (nil: before the first commit, no org file).
func (h *history) modelAt(c *object.Commit) (model, error) {
	if c == nil {
		return model{}, nil
	}
	return h.modelInTree(c.TreeHash)
}

// modelInTree is the org's model in the tree with hash t.
func (h *history) modelInTree(t plumbing.Hash) (model, error) {
	tree, err := object.GetTree(h.remote.Repository().Storer, t)
	if err != nil {
		return model{}, fmt.Errorf("rollback %s: tree %s: %w", h.org, t, err)
	}
	e, err := tree.FindEntry(h.path)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return model{}, nil
	} else if err != nil {
		return model{}, fmt.Errorf("rollback %s: %s: %w", h.org, h.path, err)
	}
	if m, ok := h.models[e.Hash]; ok {
		return m, nil
	}
	data, err := h.remote.ReadBlob(e.Hash, maxOrgFile)
	if err != nil {
		return model{}, fmt.Errorf("rollback %s: %s: %w", h.org, h.path, err)
	}
	m := parseModel(data, true)
	h.models[e.Hash] = m
	return m, nil
}

// changes returns the org's model changes still in effect at tip, newest first: walking
// tip's first-parent history, the commits whose model differs from their parent's (for a
// merge that brought one, the merged commits that did), skipping revert commits and the
// commits they reverted.
func (h *history) changes(ctx context.Context, tip *object.Commit) ([]change, error) {
	cancelled := map[plumbing.Hash]bool{}
	var out []change
	consider := func(c *object.Commit, before, after model) {
		if cancelled[c.Hash] {
			return
		}
		if target, ok := revertOf(c); ok {
			cancelled[target] = true
			return
		}
		out = append(out, change{commit: c, before: before, after: after})
	}
	walked := 0
	for x := tip; x != nil; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if walked++; walked > h.max {
			return nil, fmt.Errorf("rollback %s: walked %d commits without reaching the start of history; giving up", h.org, h.max)
		}
		p, err := h.parent(x)
		if err != nil {
			return nil, err
		}
		mx, err := h.modelAt(x)
		if err != nil {
			return nil, err
		}
		mp, err := h.modelAt(p)
		if err != nil {
			return nil, err
		}
		if mx != mp {
			if x.NumParents() <= 1 {
				consider(x, mp, mx)
			} else {
				side, err := h.merged(x, p)
				if err != nil {
					return nil, err
				}
				for _, s := range side {
					sp, err := h.parent(s)
					if err != nil {
						return nil, err
					}
					ms, err := h.modelAt(s)
					if err != nil {
						return nil, err
					}
					msp, err := h.modelAt(sp)
					if err != nil {
						return nil, err
					}
					if ms != msp {
						consider(s, msp, ms)
					}
				}
			}
		}
		x = p
	}
	return out, nil
}

// parent is c's first parent, nil for a root commit.
func (h *history) parent(c *object.Commit) (*object.Commit, error) {
	if c.NumParents() == 0 {
		return nil, nil
	}
	return h.commit(c.ParentHashes[0])
}

// merged returns the non-merge commits merge m brought in (reachable from its other
// parents, not from first, its first parent), newest first by committer time.
func (h *history) merged(m, first *object.Commit) ([]*object.Commit, error) {
	exclude, err := h.ancestors(first)
	if err != nil {
		return nil, err
	}
	seen := map[plumbing.Hash]bool{}
	var out []*object.Commit
	queue := append([]plumbing.Hash(nil), m.ParentHashes[1:]...)
	for len(queue) > 0 {
		hash := queue[0]
		queue = queue[1:]
		if seen[hash] || exclude[hash] {
			continue
		}
		if seen[hash] = true; len(seen) > h.max {
			return nil, fmt.Errorf("rollback %s: merge %s brings more than %d commits; giving up", h.org, m.Hash.String()[:7], h.max)
		}
		c, err := h.commit(hash)
		if err != nil {
			return nil, err
		}
		if c.NumParents() <= 1 {
			out = append(out, c)
		}
		queue = append(queue, c.ParentHashes...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Committer.When.After(out[j].Committer.When) })
	return out, nil
}

// ancestors returns c and every commit reachable from it (nil c: none).
func (h *history) ancestors(c *object.Commit) (map[plumbing.Hash]bool, error) {
	set := map[plumbing.Hash]bool{}
	if c == nil {
		return set, nil
	}
	queue := []plumbing.Hash{c.Hash}
	for len(queue) > 0 {
		hash := queue[0]
		queue = queue[1:]
		if set[hash] {
			continue
		}
		if set[hash] = true; len(set) > h.max {
			return nil, fmt.Errorf("rollback %s: more than %d commits in history; giving up", h.org, h.max)
		}
		x, err := h.commit(hash)
		if err != nil {
			return nil, err
		}
		queue = append(queue, x.ParentHashes...)
	}
	return set, nil
}

// later returns the non-merge commits reachable from the head but not from c that changed
// any of paths, newest first, as "<short sha> <subject>", at most ten.
func (h *history) later(c *object.Commit, paths []string) ([]string, error) {
	exclude, err := h.ancestors(c)
	if err != nil {
		return nil, err
	}
	seen := map[plumbing.Hash]bool{}
	var hits []*object.Commit
	queue := []plumbing.Hash{h.head.Hash}
	for len(queue) > 0 {
		hash := queue[0]
		queue = queue[1:]
		if seen[hash] || exclude[hash] {
			continue
		}
		if seen[hash] = true; len(seen) > h.max {
			break
		}
		x, err := h.commit(hash)
		if err != nil {
			return nil, err
		}
		queue = append(queue, x.ParentHashes...)
		if x.NumParents() > 1 {
			continue
		}
		p, err := h.parent(x)
		if err != nil {
			return nil, err
		}
		for _, path := range paths {
			if entryAt(x, path) != entryAt(p, path) {
				hits = append(hits, x)
				break
			}
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].Committer.When.After(hits[j].Committer.When) })
	var out []string
	for i, x := range hits {
		if i == 10 {
			out = append(out, fmt.Sprintf("and %d more", len(hits)-10))
			break
		}
		out = append(out, x.Hash.String()[:7]+" "+subject(x))
	}
	return out, nil
}
