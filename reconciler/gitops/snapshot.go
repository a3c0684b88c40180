package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

var (
	// ErrNotExist is returned (wrapped) when a file or directory is not in the tree at a commit.
	ErrNotExist = errors.New("not in the tree")
	// ErrFileTooLarge is returned (wrapped) when a file exceeds the mirror's size bound.
	ErrFileTooLarge = errors.New("file too large")
)

// File is a file read from the tree at a commit.
type File struct {
	Path string // slash-separated, relative to the repository root
	Data []byte
}

// CommitInfo describes a commit for messages and status.
type CommitInfo struct {
	Hash        plumbing.Hash
	Short       string // ShortHash(Hash)
	Subject     string // first line of the message
	Author      string
	AuthorEmail string
	Time        time.Time // author time
}

// ShortHash returns the first 7 hex digits of h, as git abbreviates it.
func ShortHash(h plumbing.Hash) string { return h.String()[:7] }

// Snapshot is the tree of the mirror at one commit. Every read through it sees that commit,
// whatever Fetch does meanwhile.
type Snapshot struct {
	m    *Mirror
	info CommitInfo
	tree *object.Tree
}

// Snapshot returns the tree at commit, which must be in the mirror (fetched earlier).
func (m *Mirror) Snapshot(ctx context.Context, commit plumbing.Hash) (*Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.repo.CommitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("commit %s of %s: %w", commit, m.display, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of commit %s of %s: %w", ShortHash(commit), m.display, err)
	}
	subject, _, _ := strings.Cut(c.Message, "\n")
	return &Snapshot{m: m, tree: tree, info: CommitInfo{
		Hash: c.Hash, Short: ShortHash(c.Hash), Subject: strings.TrimSpace(subject),
		Author: c.Author.Name, AuthorEmail: c.Author.Email, Time: c.Author.When,
	}}, nil
}

// CommitInfo describes commit, which must be in the mirror.
func (m *Mirror) CommitInfo(ctx context.Context, commit plumbing.Hash) (CommitInfo, error) {
	s, err := m.Snapshot(ctx, commit)
	if err != nil {
		return CommitInfo{}, err
	}
	return s.info, nil
}

// Files is Snapshot(ctx, commit) followed by Snapshot.Files(ctx, dir, suffix).
func (m *Mirror) Files(ctx context.Context, commit plumbing.Hash, dir, suffix string) ([]File, error) {
	s, err := m.Snapshot(ctx, commit)
	if err != nil {
		return nil, err
	}
	return s.Files(ctx, dir, suffix)
}

// ReadFile is Snapshot(ctx, commit) followed by Snapshot.ReadFile(ctx, path).
func (m *Mirror) ReadFile(ctx context.Context, commit plumbing.Hash, path string) ([]byte, error) {
	s, err := m.Snapshot(ctx, commit)
	if err != nil {
		return nil, err
	}
	return s.ReadFile(ctx, path)
}

// Commit describes the snapshot's commit.
func (s *Snapshot) Commit() CommitInfo { return s.info }

// Files returns the files directly under dir (slash-separated; "" or "." is the root) whose
// names end in suffix ("" matches all), sorted by path. Subdirectories are not descended
// into. A symlink or submodule with a matching name is an error, as is a file larger than
// the mirror's bound (ErrFileTooLarge). A missing dir is ErrNotExist.
func (s *Snapshot) Files(ctx context.Context, dir, suffix string) ([]File, error) {
	dir, err := cleanPath(dir, true)
	if err != nil {
		return nil, err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	tree := s.tree
	if dir != "" {
		if tree, err = s.tree.Tree(dir); err != nil {
			return nil, s.lookupErr(dir+"/", err)
		}
	}
	var files []File
	for _, e := range tree.Entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e.Mode == filemode.Dir || !strings.HasSuffix(e.Name, suffix) {
			continue
		}
		p := path.Join(dir, e.Name)
		data, err := s.readEntry(p, e)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: p, Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// ReadFile returns the content of the regular file at path (slash-separated, relative to the
// repository root). A missing file is ErrNotExist; a file larger than the mirror's bound is
// ErrFileTooLarge.
func (s *Snapshot) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := cleanPath(p, false)
	if err != nil {
		return nil, err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	e, err := s.tree.FindEntry(p)
	if err != nil {
		return nil, s.lookupErr(p, err)
	}
	return s.readEntry(p, *e)
}

// readEntry reads the blob of a regular file entry, bounded by the mirror's limit.
func (s *Snapshot) readEntry(p string, e object.TreeEntry) ([]byte, error) {
	switch e.Mode {
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
	case filemode.Dir:
		return nil, fmt.Errorf("%s at %s is a directory, not a file", p, s.info.Short)
	case filemode.Symlink:
		return nil, fmt.Errorf("%s at %s is a symlink; only regular files are read", p, s.info.Short)
	case filemode.Submodule:
		return nil, fmt.Errorf("%s at %s is a submodule; only regular files are read", p, s.info.Short)
	default:
		return nil, fmt.Errorf("%s at %s has unsupported mode %s", p, s.info.Short, e.Mode)
	}
	blob, err := s.m.repo.BlobObject(e.Hash)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", p, s.info.Short, err)
	}
	if blob.Size > s.m.maxFile {
		return nil, fmt.Errorf("%s at %s is %d bytes, over the %d-byte limit: %w",
			p, s.info.Short, blob.Size, s.m.maxFile, ErrFileTooLarge)
	}
	r, err := blob.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", p, s.info.Short, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, s.m.maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", p, s.info.Short, err)
	}
	if int64(len(data)) > s.m.maxFile {
		return nil, fmt.Errorf("%s at %s is over the %d-byte limit: %w", p, s.info.Short, s.m.maxFile, ErrFileTooLarge)
	}
	return data, nil
}

func (s *Snapshot) lookupErr(p string, err error) error {
	if errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) ||
		errors.Is(err, object.ErrFileNotFound) {
		return fmt.Errorf("%s at %s: %w", p, s.info.Short, ErrNotExist)
	}
	return fmt.Errorf("%s at %s: %w", p, s.info.Short, err)
}

// cleanPath checks a slash-separated repository path: relative, no "..", no empty or "."
// elements once cleaned. The root ("" or ".") is allowed only when root is true.
func cleanPath(p string, root bool) (string, error) {
	c := path.Clean(strings.TrimSuffix(p, "/"))
	if c == "." {
		if root {
			return "", nil
		}
		return "", fmt.Errorf("path %q: names no file", p)
	}
	if strings.HasPrefix(c, "/") || c == ".." || strings.HasPrefix(c, "../") || strings.Contains(p, `\`) {
		return "", fmt.Errorf("path %q: must be relative to the repository root, without ..", p)
	}
	return c, nil
}
