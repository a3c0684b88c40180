package rollback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/eaglenotifier/talon/reconciler/gitwrite"
)

// entry is a path's state in a tree: absent (the zero entry), or a mode and an object.
type entry struct {
	mode filemode.FileMode
	hash plumbing.Hash
}

func (e entry) present() bool { return e.mode != filemode.Empty }

// entryAt is path's entry in c's tree (the zero entry when c is nil or has no such path).
func entryAt(c *object.Commit, path string) entry {
	if c == nil {
		return entry{}
	}
	t, err := c.Tree()
	if err != nil {
		return entry{}
	}
	return entryIn(t, path)
}

func entryIn(t *object.Tree, path string) entry {
	e, err := t.FindEntry(path)
	if err != nil {
		return entry{}
	}
	return entry{mode: e.Mode, hash: e.Hash}
}

// revertOf returns the commit c reverts when its message says so as git writes it
// ("This reverts commit <sha>." on a line of its own).
func revertOf(c *object.Commit) (plumbing.Hash, bool) {
	m := revertLine.FindStringSubmatch(c.Message)
	if m == nil {
		return plumbing.ZeroHash, false
	}
	return plumbing.NewHash(m[1]), true
}

var revertLine = regexp.MustCompile(`(?m)^This reverts commit ([0-9a-f]{40})[.,]`)

// revertTree applies the reverse of commit c to the tree with hash head and returns the new
// tree's hash, or a *NotCleanError naming the files that conflict. See the package comment
// for the merge rules.
func revertTree(ctx context.Context, h *history, c *object.Commit, head plumbing.Hash) (plumbing.Hash, error) {
	repo := h.remote.Repository()
	cTree, err := c.Tree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("rollback %s: tree of %s: %w", h.org, c.Hash.String()[:7], err)
	}
	pTree := &object.Tree{}
	p, err := h.parent(c)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if p != nil {
		if pTree, err = p.Tree(); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("rollback %s: tree of %s: %w", h.org, p.Hash.String()[:7], err)
		}
	}
	hTree, err := object.GetTree(repo.Storer, head)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("rollback %s: head tree: %w", h.org, err)
	}
	diff, err := object.DiffTreeWithOptions(ctx, pTree, cTree, nil)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("rollback %s: diff of %s: %w", h.org, c.Hash.String()[:7], err)
	}
	var edits []gitwrite.Change
	var conflicts []string
	for _, ch := range diff {
		path := ch.To.Name
		if path == "" {
			path = ch.From.Name
		}
		theirs := entry{mode: ch.From.TreeEntry.Mode, hash: ch.From.TreeEntry.Hash} // the parent's
		base := entry{mode: ch.To.TreeEntry.Mode, hash: ch.To.TreeEntry.Hash}       // the commit's
		ours := entryIn(hTree, path)
		var result entry
		switch {
		case ours == base:
			result = theirs
		case ours == theirs:
			continue
		default:
			merged, ok, err := h.mergeFile(base, ours, theirs)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			if !ok {
				conflicts = append(conflicts, path)
				continue
			}
			result = merged
		}
		if result.present() {
			edits = append(edits, gitwrite.Change{Path: path, Mode: result.mode, Hash: result.hash})
		} else {
			edits = append(edits, gitwrite.Change{Path: path, Delete: true})
		}
	}
	if len(conflicts) > 0 {
		sort.Strings(conflicts)
		later, err := h.later(c, conflicts)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		return plumbing.ZeroHash, &NotCleanError{Org: h.org, Commit: c.Hash.String(), Subject: subject(c),
			Files: conflicts, Later: later}
	}
	if len(edits) == 0 {
		return head, nil
	}
	t, err := h.remote.EditTree(head, edits)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("rollback %s: %w", h.org, err)
	}
	return t, nil
}

// mergeFile merges the change from base to theirs into ours, all three regular files, and
// stores the result; ok is false on a conflict (including a deleted or binary file, or a
// file over the size bound).
func (h *history) mergeFile(base, ours, theirs entry) (entry, bool, error) {
	if !base.present() || !ours.present() || !theirs.present() ||
		!base.mode.IsFile() || !ours.mode.IsFile() || !theirs.mode.IsFile() ||
		base.mode == filemode.Symlink || ours.mode == filemode.Symlink || theirs.mode == filemode.Symlink {
		return entry{}, false, nil
	}
	mode := theirs.mode
	switch {
	case ours.mode == base.mode:
	case theirs.mode == base.mode:
		mode = ours.mode
	case ours.mode != theirs.mode:
		return entry{}, false, nil
	}
	var texts [3][]byte
	for i, e := range []entry{base, ours, theirs} {
		data, err := h.remote.ReadBlob(e.hash, maxOrgFile)
		if errors.Is(err, gitwrite.ErrTooLarge) {
			return entry{}, false, nil
		} else if err != nil {
			return entry{}, false, fmt.Errorf("rollback %s: %w", h.org, err)
		}
		if bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0 { // binary, as git decides
			return entry{}, false, nil
		}
		texts[i] = data
	}
	merged, ok, err := merge3(texts[0], texts[1], texts[2])
	if err != nil || !ok {
		return entry{}, false, nil
	}
	hash, err := h.remote.WriteBlob(merged)
	if err != nil {
		return entry{}, false, fmt.Errorf("rollback %s: %w", h.org, err)
	}
	return entry{mode: mode, hash: hash}, true, nil
}
