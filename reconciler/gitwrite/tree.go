package gitwrite

import (
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ErrTooLarge is returned (wrapped) by ReadBlob when a blob exceeds the given bound.
var ErrTooLarge = errors.New("blob too large")

// Change sets or deletes one file of a tree. Path is slash-separated and relative to the
// repository root. Delete removes the file (a missing file is not an error); otherwise the
// entry becomes Mode (filemode.Regular when zero) and Hash, a blob already in the repository.
type Change struct {
	Path   string
	Delete bool
	Mode   filemode.FileMode
	Hash   plumbing.Hash
}

// WriteBlob stores data as a blob and returns its hash.
func (r *Remote) WriteBlob(data []byte) (plumbing.Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	obj := r.repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.repo.Storer.SetEncodedObject(obj)
}

// ReadBlob returns the content of blob h, refusing one larger than limit bytes (ErrTooLarge).
func (r *Remote) ReadBlob(h plumbing.Hash, limit int64) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.repo.BlobObject(h)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	if b.Size > limit {
		return nil, fmt.Errorf("blob %s is %d bytes, over the %d-byte limit: %w", h, b.Size, limit, ErrTooLarge)
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("blob %s is over the %d-byte limit: %w", h, limit, ErrTooLarge)
	}
	return data, nil
}

// WriteCommit stores c (its hash is ignored) and returns the new commit's hash.
func (r *Remote) WriteCommit(c *object.Commit) (plumbing.Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	obj := r.repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.repo.Storer.SetEncodedObject(obj)
}

// EditTree applies changes to the tree base (the zero hash: the empty tree), writes every
// tree that changed and returns the new root tree's hash. Directories left empty are
// removed, as git has no empty directories. Paths must be clean and relative, without ".."
// or ".git" elements, and each may appear once.
func (r *Remote) EditTree(base plumbing.Hash, changes []Change) (plumbing.Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byPath := map[string]Change{}
	for _, c := range changes {
		if err := ValidatePath(c.Path); err != nil {
			return plumbing.ZeroHash, err
		}
		if _, dup := byPath[c.Path]; dup {
			return plumbing.ZeroHash, fmt.Errorf("path %q changed twice", c.Path)
		}
		if !c.Delete && c.Mode == 0 {
			c.Mode = filemode.Regular
		}
		byPath[c.Path] = c
	}
	h, _, err := r.editTree(base, byPath)
	return h, err
}

// editTree rewrites the tree at hash base with changes relative to it; empty reports that
// the result has no entries (its hash is then the empty tree's).
func (r *Remote) editTree(base plumbing.Hash, changes map[string]Change) (plumbing.Hash, bool, error) {
	entries := map[string]object.TreeEntry{}
	if !base.IsZero() {
		t, err := object.GetTree(r.repo.Storer, base)
		if err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("tree %s: %w", base, err)
		}
		for _, e := range t.Entries {
			entries[e.Name] = e
		}
	}
	sub := map[string]map[string]Change{}
	for p, c := range changes {
		first, rest, nested := strings.Cut(p, "/")
		if nested {
			if sub[first] == nil {
				sub[first] = map[string]Change{}
			}
			sub[first][rest] = c
			continue
		}
		if c.Delete {
			if e, ok := entries[first]; ok && e.Mode == filemode.Dir {
				return plumbing.ZeroHash, false, fmt.Errorf("delete %q: it is a directory", first)
			}
			delete(entries, first)
			continue
		}
		if e, ok := entries[first]; ok && e.Mode == filemode.Dir {
			return plumbing.ZeroHash, false, fmt.Errorf("write %q: a directory is there", first)
		}
		entries[first] = object.TreeEntry{Name: first, Mode: c.Mode, Hash: c.Hash}
	}
	for name, cs := range sub {
		var subBase plumbing.Hash
		if e, ok := entries[name]; ok {
			if e.Mode != filemode.Dir {
				return plumbing.ZeroHash, false, fmt.Errorf("write under %q: a file is there", name)
			}
			subBase = e.Hash
		}
		h, empty, err := r.editTree(subBase, cs)
		if err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("%s/%w", name, err)
		}
		if empty {
			delete(entries, name)
		} else {
			entries[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
		}
	}
	h, err := writeTree(r.repo.Storer, entries)
	return h, len(entries) == 0, err
}

// writeTree stores a tree of entries in git's order: by name, a directory's name compared
// as if it ended in "/".
func writeTree(s storer.EncodedObjectStorer, entries map[string]object.TreeEntry) (plumbing.Hash, error) {
	t := &object.Tree{}
	for _, e := range entries {
		t.Entries = append(t.Entries, e)
	}
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(t.Entries, func(i, j int) bool { return key(t.Entries[i]) < key(t.Entries[j]) })
	obj := s.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// ValidatePath reports whether p is a clean, relative, slash-separated file path without
// empty, ".", ".." or ".git" elements.
func ValidatePath(p string) error {
	if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) {
		return fmt.Errorf("path %q: must be clean, relative and slash-separated", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "." || el == ".." || strings.EqualFold(el, ".git") {
			return fmt.Errorf("path %q: element %q is not allowed", p, el)
		}
	}
	return nil
}
