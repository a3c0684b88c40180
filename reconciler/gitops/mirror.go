// Package gitops keeps a bare mirror of the config repository with go-git, fetches the tracked
// branch only when its remote head has moved, and reads files from the tree at a commit (it
// never checks anything out).
package gitops

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// RemoteName is the name of the mirror's only remote.
const RemoteName = "origin"

// DefaultBranch is the branch a Mirror tracks unless WithBranch says otherwise.
const DefaultBranch = "main"

// DefaultMaxFileSize bounds each file read from a tree unless WithMaxFileSize says otherwise.
const DefaultMaxFileSize = 1 << 20 // 1 MiB

// DefaultPackLimit is how many pack files the mirror may hold before they are merged, unless
// WithPackLimit says otherwise.
const DefaultPackLimit = 32

// Mirror is a bare mirror of one branch of a remote repository. Its last fetched commit lives
// in the ref refs/remotes/origin/<branch> of the mirror itself, so it survives restarts. A
// Mirror is safe for concurrent use; its operations on the repository are serialized. It
// keeps its pack files open between reads: Close it when done.
type Mirror struct {
	dir       string
	packDir   string // absolute objects/pack
	url       string // as go-git needs it, possibly with credentials
	display   string // url without credentials, for messages
	branch    string
	auth      transport.AuthMethod
	maxFile   int64
	packLimit int

	mu    sync.Mutex
	repo  *git.Repository
	store *filesystem.Storage
	// failedAt is the pack count when an automatic repack last failed, 0 after a success:
	// Fetch tries again only once another pack has arrived.
	failedAt int
	dropped  []string // damaged packs Open removed (see Dropped)
	// repackHook is options.repackHook (tests only).
	repackHook func(step string)
}

// Option configures Open.
type Option func(*options) error

type options struct {
	branch    string
	auth      transport.AuthMethod
	maxFile   int64
	packLimit int
	storage   *filesystem.Options // for tests; nil: storageOptions(packLimit)
	// repackHook, for tests, is called at each step of a repack (see Mirror.hook).
	repackHook func(step string)
}

// maxOpenPacks bounds the pack files a mirror keeps open, whatever its pack limit.
const maxOpenPacks = 256

// storageOptions returns the go-git storage options of a mirror with the given pack limit.
// They keep pack files open between reads (by default go-git opens and closes a pack for
// every object it reads, even one it has cached), up to one per pack the mirror may hold
// before Fetch repacks at once, so that none is closed in normal use, at most
// maxOpenPacks. Beyond that go-git closes the pack it opened longest ago. (With
// KeepDescriptors go-git ignores MaxOpenDescriptors and keeps every pack it ever read
// open: no bound at all.) Close releases them.
func storageOptions(packLimit int) filesystem.Options {
	return filesystem.Options{MaxOpenDescriptors: min(packHardFactor*packLimit+1, maxOpenPacks)}
}

// WithBranch sets the branch to track. The default is DefaultBranch ("main").
func WithBranch(name string) Option {
	return func(o *options) error {
		if name == "" || strings.HasPrefix(name, "refs/") {
			return fmt.Errorf("branch %q: give a short branch name such as %q", name, DefaultBranch)
		}
		if err := plumbing.NewBranchReferenceName(name).Validate(); err != nil {
			return fmt.Errorf("branch %q: %w", name, err)
		}
		o.branch = name
		return nil
	}
}

// WithAuth sets the credentials for the remote, e.g. &http.BasicAuth{Username, Password}
// (a token goes in Password) for http(s) URLs. The default is none (credentials embedded
// in the URL are still used). Credentials never appear in errors.
func WithAuth(auth transport.AuthMethod) Option {
	return func(o *options) error {
		o.auth = auth
		return nil
	}
}

// WithMaxFileSize bounds the size of each file Files and ReadFile return. The default is
// DefaultMaxFileSize (1 MiB).
func WithMaxFileSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("max file size %d: must be positive", n)
		}
		o.maxFile = n
		return nil
	}
}

// WithPackLimit sets how many pack files the mirror may hold (each fetch that brings commits
// adds one, and every read searches them all) before Fetch merges them (see Maintain): on
// a poll that found nothing new, so news never waits for it, or right after a fetch once
// there are four times as many. Maintain does it on demand. The default is
// DefaultPackLimit (32).
func WithPackLimit(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("pack limit %d: must be positive", n)
		}
		o.packLimit = n
		return nil
	}
}

// Open creates a bare repository at dir, or reopens the one there, and points its remote
// "origin" at url (updating it when it changed). url is a local path (absolute or relative to
// the working directory), or a file://, git://, http:// or https:// URL. A dir that exists but
// is neither empty nor a bare repository is refused. Open does no network I/O; call Fetch.
// One Mirror at a time may use dir: Open removes what an interrupted write left there, and
// packs a power loss damaged (see Dropped).
func Open(ctx context.Context, dir, url string, opts ...Option) (*Mirror, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := options{branch: DefaultBranch, maxFile: DefaultMaxFileSize, packLimit: DefaultPackLimit}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("open mirror: %w", err)
		}
	}
	if dir == "" {
		return nil, errors.New("open mirror: empty directory")
	}
	norm, display, err := NormalizeURL(url)
	if err != nil {
		return nil, fmt.Errorf("open mirror: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open mirror %s: %w", dir, err)
	}
	so := storageOptions(o.packLimit)
	if o.storage != nil {
		so = *o.storage
	}
	repo, store, err := openOrInit(abs, o.branch, so)
	if err != nil {
		return nil, fmt.Errorf("open mirror %s: %w", dir, err)
	}
	m := &Mirror{dir: dir, packDir: filepath.Join(abs, "objects", "pack"), url: norm, display: display,
		branch: o.branch, auth: o.auth, maxFile: o.maxFile, packLimit: o.packLimit, repo: repo, store: store,
		repackHook: o.repackHook}
	if err := m.configureRemote(); err != nil {
		_ = store.Close() // nothing read yet: no pack is open
		return nil, fmt.Errorf("open mirror %s: %w", dir, err)
	}
	packs, err := m.listPacks() // removes what an interrupted write left
	if err == nil {
		err = m.dropDamagedPacks(packs)
	}
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("open mirror %s: %w", dir, err)
	}
	return m, nil
}

// Close releases the pack files the mirror keeps open. A method called after Close still
// works, opening the files it needs again; call Close once more when done.
func (m *Mirror) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.store.Close(); err != nil {
		return fmt.Errorf("close mirror %s: %w", m.dir, err)
	}
	return nil
}

// URL returns the remote's URL without any credentials.
func (m *Mirror) URL() string { return m.display }

// Branch returns the tracked branch.
func (m *Mirror) Branch() string { return m.branch }

// Dir returns the mirror's directory.
func (m *Mirror) Dir() string { return m.dir }

// Head returns the last fetched commit of the tracked branch, read from the mirror's
// refs/remotes/origin/<branch>, and false when nothing has been fetched yet.
func (m *Mirror) Head() (plumbing.Hash, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.headLocked()
}

func (m *Mirror) trackingRef() plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(RemoteName, m.branch)
}

func (m *Mirror) refSpec() config.RefSpec {
	return config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(m.branch), m.trackingRef()))
}

func (m *Mirror) headLocked() (plumbing.Hash, bool) {
	ref, err := m.repo.Storer.Reference(m.trackingRef())
	if err != nil || ref.Type() != plumbing.HashReference || ref.Hash().IsZero() {
		return plumbing.ZeroHash, false
	}
	return ref.Hash(), true
}

// openOrInit opens the bare repository at dir or initializes one there, then reopens its
// storage with so.
func openOrInit(dir, branch string, so filesystem.Options) (*git.Repository, *filesystem.Storage, error) {
	repo, err := git.PlainOpen(dir)
	if err == nil {
		cfg, err := repo.Config()
		if err != nil {
			return nil, nil, err
		}
		if !cfg.Core.IsBare {
			return nil, nil, errors.New("not a bare repository; Talon keeps a bare mirror: remove it or choose another directory")
		}
		return reopen(repo, so)
	}
	if !errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, nil, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, nil, errors.New("directory is not empty and not a git repository")
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(branch)},
	})
	if err != nil {
		return nil, nil, err
	}
	return reopen(repo, so)
}

// reopen returns repo on a storage of its directory with so. PlainOpen and PlainInit use
// the default options and have read no object yet, so nothing of theirs is left open.
func reopen(repo *git.Repository, so filesystem.Options) (*git.Repository, *filesystem.Storage, error) {
	plain, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return nil, nil, fmt.Errorf("go-git storage is %T, not a directory", repo.Storer)
	}
	store := filesystem.NewStorageWithOptions(plain.Filesystem(), cache.NewObjectLRUDefault(), so)
	repo, err := git.Open(store, nil)
	if err != nil {
		return nil, nil, err
	}
	return repo, store, nil
}

// configureRemote writes origin's URL (without credentials) and fetch refspec to the mirror's
// config when they differ from what is there.
func (m *Mirror) configureRemote() error {
	want := &config.RemoteConfig{
		Name:  RemoteName,
		URLs:  []string{m.display},
		Fetch: []config.RefSpec{m.refSpec()},
	}
	if err := want.Validate(); err != nil {
		return err
	}
	cfg, err := m.repo.Config()
	if err != nil {
		return err
	}
	if have, ok := cfg.Remotes[RemoteName]; ok && len(have.URLs) == 1 && have.URLs[0] == m.display &&
		len(have.Fetch) == 1 && have.Fetch[0] == want.Fetch[0] {
		return nil
	}
	cfg.Remotes[RemoteName] = want
	return m.repo.SetConfig(cfg)
}

// remote returns origin with the full URL (credentials included), built in memory so that
// credentials are never written to the mirror's config.
func (m *Mirror) remote() *git.Remote {
	return git.NewRemote(m.repo.Storer, &config.RemoteConfig{
		Name:  RemoteName,
		URLs:  []string{m.url},
		Fetch: []config.RefSpec{m.refSpec()},
	})
}

// TransportContext is the context to hand go-git for an operation on the remote at url
// (as NormalizeURL returns it). For a local repository (file://) it is ctx without its
// cancellation: go-git runs git-upload-pack or git-receive-pack there, and when ctx ends
// mid-stream it kills that process and then waits for pipes its children (pack-objects,
// unpack-objects) still hold open, forever. A local operation is short, so it runs to its
// end instead, and a shutdown waits for it. Network transports are cancelled as usual.
func TransportContext(ctx context.Context, url string) context.Context {
	if strings.HasPrefix(url, "file://") {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// NormalizeURL turns a local path into an absolute file:// URL, checks the scheme of other
// URLs, and returns the URL to use and the same URL without credentials for messages.
func NormalizeURL(raw string) (norm, display string, err error) {
	if raw == "" {
		return "", "", errors.New("empty repository URL")
	}
	if !strings.Contains(raw, "://") {
		if i := strings.IndexByte(raw, ':'); i > 0 && !strings.ContainsAny(raw[:i], `/\`) {
			return "", "", fmt.Errorf("repository URL %q: scp-style ssh URLs are not supported; use a path, file://, git://, http:// or https://", raw)
		}
		abs, err := filepath.Abs(raw)
		if err != nil {
			return "", "", fmt.Errorf("repository path %q: %w", raw, err)
		}
		u := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
		return u, u, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("repository URL: %w", RedactErr(err))
	}
	switch u.Scheme {
	case "file", "git", "http", "https":
	default:
		return "", "", fmt.Errorf("repository URL scheme %q is not supported; use a path, file://, git://, http:// or https://", u.Scheme)
	}
	if u.Scheme != "file" && u.Host == "" {
		return "", "", fmt.Errorf("repository URL %s: no host", u.Redacted())
	}
	shown := *u
	shown.User = nil
	return raw, shown.String(), nil
}

// RedactErr drops the URL a *url.Error carries (it may hold credentials) and keeps the reason.
func RedactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
