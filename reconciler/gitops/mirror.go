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
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// RemoteName is the name of the mirror's only remote.
const RemoteName = "origin"

// DefaultBranch is the branch a Mirror tracks unless WithBranch says otherwise.
const DefaultBranch = "main"

// DefaultMaxFileSize bounds each file read from a tree unless WithMaxFileSize says otherwise.
const DefaultMaxFileSize = 1 << 20 // 1 MiB

// Mirror is a bare mirror of one branch of a remote repository. Its last fetched commit lives
// in the ref refs/remotes/origin/<branch> of the mirror itself, so it survives restarts. A
// Mirror is safe for concurrent use; its operations on the repository are serialized.
type Mirror struct {
	dir     string
	url     string // as go-git needs it, possibly with credentials
	display string // url without credentials, for messages
	branch  string
	auth    transport.AuthMethod
	maxFile int64

	mu   sync.Mutex
	repo *git.Repository
}

// Option configures Open.
type Option func(*options) error

type options struct {
	branch  string
	auth    transport.AuthMethod
	maxFile int64
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

// Open creates a bare repository at dir, or reopens the one there, and points its remote
// "origin" at url (updating it when it changed). url is a local path (absolute or relative to
// the working directory), or a file://, git://, http:// or https:// URL. A dir that exists but
// is neither empty nor a bare repository is refused. Open does no network I/O; call Fetch.
func Open(ctx context.Context, dir, url string, opts ...Option) (*Mirror, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := options{branch: DefaultBranch, maxFile: DefaultMaxFileSize}
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
	repo, err := openOrInit(dir, o.branch)
	if err != nil {
		return nil, fmt.Errorf("open mirror %s: %w", dir, err)
	}
	m := &Mirror{dir: dir, url: norm, display: display, branch: o.branch, auth: o.auth,
		maxFile: o.maxFile, repo: repo}
	if err := m.configureRemote(); err != nil {
		return nil, fmt.Errorf("open mirror %s: %w", dir, err)
	}
	return m, nil
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

// openOrInit opens the bare repository at dir or initializes one there.
func openOrInit(dir, branch string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err == nil {
		cfg, err := repo.Config()
		if err != nil {
			return nil, err
		}
		if !cfg.Core.IsBare {
			return nil, errors.New("not a bare repository; Talon keeps a bare mirror: remove it or choose another directory")
		}
		return repo, nil
	}
	if !errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, errors.New("directory is not empty and not a git repository")
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(branch)},
	})
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
