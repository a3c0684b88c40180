package gitops

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// TestFetchErrors checks that each way a remote can be wrong gives an error naming the URL
// and, where it matters, the branch, and leaves the mirror's head alone.
func TestFetchErrors(t *testing.T) {
	root := t.TempDir()
	gittest.NewBareRepo(t, root, "empty")
	full := gittest.NewBareRepo(t, root, "config")
	c := gittest.Clone(t, full, filepath.Join(t.TempDir(), "work"))
	seed(t, c)
	c.Git("push", "--quiet", "origin", "HEAD:refs/heads/staging")
	daemon := gittest.StartDaemon(t, root)
	web := gittest.StartHTTP(t, root)
	closed := closedPortURL(t)

	tests := []struct {
		name   string
		url    string
		opts   []Option
		is     error    // errors.Is target, nil when none applies
		errHas []string // substrings of the message
	}{
		{"missing branch git", daemon + "/config.git", []Option{WithBranch("prod")}, ErrBranchNotFound,
			[]string{daemon + "/config.git", `"prod"`, "main, staging"}},
		{"missing branch http", web + "/config.git", []Option{WithBranch("prod")}, ErrBranchNotFound,
			[]string{web + "/config.git", `"prod"`}},
		{"missing branch path", full, []Option{WithBranch("prod")}, ErrBranchNotFound,
			[]string{"file://" + filepath.ToSlash(full), `"prod"`}},
		{"empty remote git", daemon + "/empty.git", nil, ErrEmptyRemote,
			[]string{daemon + "/empty.git", "push a first commit", `"main"`}},
		{"empty remote http", web + "/empty.git", nil, ErrEmptyRemote, []string{web + "/empty.git"}},
		{"empty remote path", filepath.Join(root, "empty.git"), nil, ErrEmptyRemote, []string{"empty.git"}},
		{"no such repo git", daemon + "/nope.git", nil, ErrRepositoryNotFound, []string{daemon + "/nope.git"}},
		{"no such repo http", web + "/nope.git", nil, ErrRepositoryNotFound, []string{web + "/nope.git"}},
		{"no such repo path", filepath.Join(root, "nope.git"), nil, ErrRepositoryNotFound, []string{"nope.git"}},
		{"unreachable git", closed, nil, nil, []string{closed, "branch main"}},
		{"unreachable http", strings.Replace(closed, "git://", "http://", 1), nil, nil,
			[]string{strings.Replace(closed, "git://", "http://", 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := openMirror(t, tc.url, tc.opts...)
			res, err := m.Fetch(ctxT(t))
			if err == nil {
				t.Fatalf("Fetch = %+v, nil; want an error", res)
			}
			t.Logf("error: %v", err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Fetch error %q is not %q", err, tc.is)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Fetch error %q does not mention %q", err, s)
				}
			}
			if res.Changed {
				t.Errorf("failed Fetch reports Changed")
			}
			if h, ok := m.Head(); ok {
				t.Errorf("Head after failed Fetch = %s; want none", h)
			}
		})
	}
}

// TestFetchAuth fetches from an HTTP server requiring basic auth: refused without or with
// wrong credentials (never echoing them), accepted with WithAuth or credentials in the URL,
// which are not written to the mirror's config.
func TestFetchAuth(t *testing.T) {
	const user, pass = "ci", "s3cret-token"
	root := t.TempDir()
	bare := gittest.NewBareRepo(t, root, "config")
	c1 := seed(t, gittest.Clone(t, bare, filepath.Join(t.TempDir(), "work")))
	srv := gittest.NewHTTPServer(t, root, gittest.WithBasicAuth(user, pass))
	url := srv.URL + "/config.git"
	withCreds := strings.Replace(url, "http://", "http://"+user+":"+pass+"@", 1)

	for _, tc := range []struct {
		name string
		url  string
		opts []Option
		ok   bool
		is   error
	}{
		{"none", url, nil, false, transport.ErrAuthenticationRequired},
		{"wrong", url, []Option{WithAuth(&githttp.BasicAuth{Username: user, Password: "wrong-pw"})}, false, nil},
		{"WithAuth", url, []Option{WithAuth(&githttp.BasicAuth{Username: user, Password: pass})}, true, nil},
		{"in URL", withCreds, nil, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := openMirror(t, tc.url, tc.opts...)
			if strings.Contains(m.URL(), pass) {
				t.Errorf("URL() = %q shows the password", m.URL())
			}
			if got := gitConfig(t, m.Dir(), "remote.origin.url"); got != url {
				t.Errorf("remote.origin.url = %q; want %q (no credentials)", got, url)
			}
			res, err := m.Fetch(ctxT(t))
			if !tc.ok {
				if err == nil {
					t.Fatalf("Fetch = %+v, nil; want an error", res)
				}
				t.Logf("error: %v", err)
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("Fetch error %q is not %q", err, tc.is)
				}
				for _, secret := range []string{pass, "wrong-pw"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("Fetch error %q leaks a credential", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if res.Commit != c1 {
				t.Errorf("Fetch commit = %s; want %s", res.Commit, c1)
			}
		})
	}
}

// TestOpenRejects checks Open's validation of URLs, options and directories.
func TestOpenRejects(t *testing.T) {
	notEmpty := t.TempDir()
	c := gittest.Clone(t, gittest.NewBareRepo(t, t.TempDir(), "x"), filepath.Join(t.TempDir(), "work"))
	c.Write("f", "x")
	if err := writeFile(filepath.Join(notEmpty, "keep.txt"), "x"); err != nil {
		t.Fatal(err)
	}
	good := "git://127.0.0.1:9/config.git"
	for _, tc := range []struct {
		name, dir, url string
		opts           []Option
		errHas         string
	}{
		{"empty url", "", "", nil, "empty repository URL"},
		{"ssh scheme", "", "ssh://git@example.com/x.git", nil, `scheme "ssh" is not supported`},
		{"scp style", "", "git@example.com:x.git", nil, "scp-style"},
		{"no host", "", "http:///x.git", nil, "no host"},
		{"bad branch", "", good, []Option{WithBranch("a..b")}, `branch "a..b"`},
		{"full ref branch", "", good, []Option{WithBranch("refs/heads/main")}, "short branch name"},
		{"zero max size", "", good, []Option{WithMaxFileSize(0)}, "must be positive"},
		{"zero pack limit", "", good, []Option{WithPackLimit(0)}, "pack limit 0: must be positive"},
		{"dir not empty", notEmpty, good, nil, "not empty and not a git repository"},
		{"dir non-bare", c.Dir, good, nil, "not a bare repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "mirror")
			}
			m, err := Open(ctxT(t), dir, tc.url, tc.opts...)
			if err == nil {
				t.Fatalf("Open = %v, nil; want an error mentioning %q", m, tc.errHas)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("Open error %q does not mention %q", err, tc.errHas)
			}
		})
	}
}

// TestOpenRelativePath opens a remote given as a path relative to the working directory.
// The directory name has a space, which the file:// URL must carry through.
func TestOpenRelativePath(t *testing.T) {
	root := filepath.Join(t.TempDir(), "config repos")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	bare := gittest.NewBareRepo(t, root, "config")
	c1 := seed(t, gittest.Clone(t, bare, filepath.Join(t.TempDir(), "work")))
	t.Chdir(root)
	m := openMirror(t, "config.git")
	if want := "file://" + strings.ReplaceAll(filepath.ToSlash(bare), " ", "%20"); m.URL() != want {
		t.Errorf("URL() = %q; want %q", m.URL(), want)
	}
	if got := mustFetch(t, m); got.Commit != c1 {
		t.Errorf("Fetch commit = %s; want %s", got.Commit, c1)
	}
}

// closedPortURL returns a git:// URL on a loopback port nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "git://" + addr + "/config.git"
}
