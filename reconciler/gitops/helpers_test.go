package gitops

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// testTimeout bounds each network operation in tests; it is a hang guard, not an assertion.
const testTimeout = time.Minute

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// remoteEnv is one config repository served one way.
type remoteEnv struct {
	root string              // directory holding the bare repositories
	bare string              // path of the bare repository
	url  string              // URL the Mirror uses
	http *gittest.HTTPServer // non-nil for the http transport
}

// transports lists the ways a config repository can be reached.
var transports = []string{"path", "file", "git", "http"}

// newRemote creates an empty bare repository "config" and serves it over transport.
func newRemote(t *testing.T, transport string) *remoteEnv {
	t.Helper()
	root := t.TempDir()
	e := &remoteEnv{root: root, bare: gittest.NewBareRepo(t, root, "config")}
	switch transport {
	case "path":
		e.url = e.bare
	case "file":
		e.url = "file://" + filepath.ToSlash(e.bare)
	case "git":
		e.url = gittest.StartDaemon(t, root) + "/config.git"
	case "http":
		e.http = gittest.NewHTTPServer(t, root)
		e.url = e.http.URL + "/config.git"
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	return e
}

// clone makes a work clone of the remote, as a person editing the config repo would.
func (e *remoteEnv) clone(t *testing.T) *gittest.WorkClone {
	t.Helper()
	return gittest.Clone(t, e.url, filepath.Join(t.TempDir(), "work"))
}

// seed pushes a first commit with two orgs, a README and a nested file.
func seed(t *testing.T, c *gittest.WorkClone) plumbing.Hash {
	t.Helper()
	c.Write("orgs/acme.yaml", "org: acme\nmodel: {repository: r/acme/pdm, version: v1}\n")
	c.Write("orgs/globex.yaml", "org: globex\nmodel: {repository: r/globex/pdm, version: v1}\n")
	c.Write("orgs/notes.txt", "not yaml\n")
	c.Write("orgs/archive/old.yaml", "org: old\n")
	c.Write("README.md", "config repo\n")
	sha := c.Commit("Seed two orgs")
	c.Push()
	return plumbing.NewHash(sha)
}

func openMirror(t *testing.T, url string, opts ...Option) *Mirror {
	t.Helper()
	m, err := Open(ctxT(t), filepath.Join(t.TempDir(), "mirror"), url, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	closeAtEnd(t, m)
	return m
}

// closeAtEnd closes m when the test ends.
func closeAtEnd(t testing.TB, m *Mirror) {
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func mustFetch(t *testing.T, m *Mirror) FetchResult {
	t.Helper()
	res, err := m.Fetch(ctxT(t))
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return res
}

// objectFiles lists every file under the mirror's objects directory (loose objects and
// packs), so a test can tell whether a fetch stored anything.
func objectFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk objects: %v", err)
	}
	return files
}

// fileMap turns a Files result into path → content for comparisons.
func fileMap(files []File) map[string]string {
	m := make(map[string]string, len(files))
	for _, f := range files {
		m[f.Path] = string(f.Data)
	}
	return m
}

func writeBig(t *testing.T, c *gittest.WorkClone, path string, n int) {
	t.Helper()
	c.Write(path, strings.Repeat("x", n))
}

// httpURL serves the same repository over smart HTTP as well and returns its URL there.
func (e *remoteEnv) httpURL(t *testing.T) string {
	t.Helper()
	return gittest.StartHTTP(t, e.root) + "/config.git"
}

// gitConfig reads a key of a repository's config with the git CLI.
func gitConfig(t *testing.T, dir, key string) string {
	t.Helper()
	return gittest.Git(t, dir, "config", "--get", key)
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
