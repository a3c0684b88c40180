package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxLinkHops bounds symlink resolution, as Linux's MAXSYMLINKS does.
const maxLinkHops = 40

// FS returns a read-only fs.FS of the snapshot's tree, for loaders that take an fs.FS
// (policy.Load). It implements fs.ReadDirFS, fs.ReadFileFS, fs.StatFS and fs.ReadLinkFS.
// Every call sees the snapshot's commit and fails once ctx is done. Files larger than the
// mirror's bound cannot be opened (ErrFileTooLarge; Stat still reports their size).
// Symlinks are followed only within the tree: a link whose target leaves it (absolute,
// or through "..") does not exist as far as Open and Stat are concerned, while Lstat and
// ReadLink show the link itself. Submodules are irregular files that cannot be opened.
// Modification times are the commit's author time.
func (s *Snapshot) FS(ctx context.Context) fs.FS { return &treeFS{s: s, ctx: ctx} }

type treeFS struct {
	s   *Snapshot
	ctx context.Context
}

var (
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
	_ fs.ReadLinkFS = (*treeFS)(nil)
)

// node is a tree entry found by walk; the root has an empty name and Dir mode.
type node struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
	tree *object.Tree // for directories
}

// walk finds name, following symlinks in every element (and in the last one when
// follow). The caller holds the mirror's lock.
func (f *treeFS) walk(op, name string, follow bool) (*node, error) {
	if err := f.ctx.Err(); err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	notExist := &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	parts := strings.Split(name, "/")
	if name == "." {
		parts = nil
	}
	cur := &node{mode: filemode.Dir, tree: f.s.tree}
	for i, hops := 0, 0; i < len(parts); i++ {
		if cur.tree == nil {
			return nil, notExist
		}
		e, err := cur.tree.FindEntry(parts[i])
		if err != nil {
			return nil, notExist
		}
		n := &node{name: e.Name, mode: e.Mode, hash: e.Hash}
		if e.Mode == filemode.Symlink && (follow || i < len(parts)-1) {
			if hops++; hops > maxLinkHops {
				return nil, &fs.PathError{Op: op, Path: name, Err: errors.New("too many levels of symbolic links")}
			}
			target, err := f.blob(n, maxLinkTarget)
			if err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: err}
			}
			next := path.Join(append([]string{path.Join(parts[:i]...), string(target)}, parts[i+1:]...)...)
			if path.IsAbs(string(target)) || !fs.ValidPath(next) {
				return nil, notExist // the link leaves the tree
			}
			parts, i, cur = strings.Split(next, "/"), -1, &node{mode: filemode.Dir, tree: f.s.tree}
			if next == "." {
				parts = nil
			}
			continue
		}
		if e.Mode == filemode.Dir {
			if n.tree, err = f.s.m.repo.TreeObject(e.Hash); err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: err}
			}
		}
		cur = n
	}
	return cur, nil
}

// maxLinkTarget bounds a symlink's target, as PATH_MAX does.
const maxLinkTarget = 4096

// blob reads a blob of at most max bytes.
func (f *treeFS) blob(n *node, max int64) ([]byte, error) {
	b, err := f.s.m.repo.BlobObject(n.hash)
	if err != nil {
		return nil, err
	}
	if b.Size > max {
		return nil, fmt.Errorf("%d bytes, over the %d-byte limit: %w", b.Size, max, ErrFileTooLarge)
	}
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err == nil && int64(len(data)) > max {
		err = fmt.Errorf("over the %d-byte limit: %w", max, ErrFileTooLarge)
	}
	return data, err
}

func (f *treeFS) info(n *node) (*entryInfo, error) {
	fi := &entryInfo{name: n.name, mode: goMode(n.mode), mtime: f.s.info.Time}
	if n.name == "" {
		fi.name = "."
	}
	if n.mode != filemode.Dir && n.mode != filemode.Submodule {
		b, err := f.s.m.repo.BlobObject(n.hash)
		if err != nil {
			return nil, err
		}
		fi.size = b.Size
	}
	return fi, nil
}

func (f *treeFS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	f.s.m.mu.Lock()
	defer f.s.m.mu.Unlock()
	n, err := f.walk(op, name, follow)
	if err != nil {
		return nil, err
	}
	fi, err := f.info(n)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return fi, nil
}

// Stat describes name, following symlinks within the tree.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) { return f.stat("stat", name, true) }

// Lstat describes name without following a final symlink.
func (f *treeFS) Lstat(name string) (fs.FileInfo, error) { return f.stat("lstat", name, false) }

// ReadLink returns the target of the symlink name.
func (f *treeFS) ReadLink(name string) (string, error) {
	f.s.m.mu.Lock()
	defer f.s.m.mu.Unlock()
	n, err := f.walk("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	target, err := f.blob(n, maxLinkTarget)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(target), nil
}

// ReadFile returns the content of the regular file name, bounded by the mirror's limit.
func (f *treeFS) ReadFile(name string) ([]byte, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if rf, ok := file.(*blobFile); ok {
		return bytes.Clone(rf.data), nil
	}
	return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
}

// ReadDir lists the directory name, sorted by file name.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	d, ok := file.(*dirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return d.ReadDir(-1)
}

// Open opens name, following symlinks within the tree.
func (f *treeFS) Open(name string) (fs.File, error) {
	f.s.m.mu.Lock()
	defer f.s.m.mu.Unlock()
	n, err := f.walk("open", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := f.info(n)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	switch n.mode {
	case filemode.Dir:
		d := &dirFile{info: fi}
		for _, e := range n.tree.Entries {
			ei, err := f.info(&node{name: e.Name, mode: e.Mode, hash: e.Hash})
			if err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
			d.entries = append(d.entries, fs.FileInfoToDirEntry(ei))
		}
		sort.Slice(d.entries, func(i, j int) bool { return d.entries[i].Name() < d.entries[j].Name() })
		return d, nil
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
		data, err := f.blob(n, f.s.m.maxFile)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &blobFile{info: fi, data: data, r: bytes.NewReader(data)}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%s is not a regular file or directory", fi.Mode().Type())}
}

func goMode(m filemode.FileMode) fs.FileMode {
	switch m {
	case filemode.Dir:
		return fs.ModeDir | 0o555
	case filemode.Executable:
		return 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	case filemode.Submodule:
		return fs.ModeIrregular
	}
	return 0o444
}

type entryInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (i *entryInfo) Name() string       { return i.name }
func (i *entryInfo) Size() int64        { return i.size }
func (i *entryInfo) Mode() fs.FileMode  { return i.mode }
func (i *entryInfo) ModTime() time.Time { return i.mtime }
func (i *entryInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *entryInfo) Sys() any           { return nil }

type blobFile struct {
	info fs.FileInfo
	data []byte
	r    *bytes.Reader
}

func (b *blobFile) Stat() (fs.FileInfo, error) { return b.info, nil }
func (b *blobFile) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *blobFile) Seek(off int64, whence int) (int64, error) {
	return b.r.Seek(off, whence)
}
func (b *blobFile) ReadAt(p []byte, off int64) (int, error) { return b.r.ReadAt(p, off) }
func (b *blobFile) Close() error                            { return nil }

type dirFile struct {
	info    fs.FileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}
