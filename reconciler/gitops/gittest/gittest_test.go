package gittest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServersRoundTrip seeds an empty repository through each server with the CLI, then
// checks a second clone sees the commit and a revert round-trips.
func TestServersRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T, root string) string
	}{
		{"daemon", func(t *testing.T, root string) string { return StartDaemon(t, root) }},
		{"http", func(t *testing.T, root string) string { return StartHTTP(t, root) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			bare := NewBareRepo(t, root, "config")
			if got := Git(t, bare, "config", "--get", "http.receivepack"); got != "true" {
				t.Errorf("http.receivepack = %q; want true", got)
			}
			url := tc.start(t, root) + "/config.git"
			if !strings.HasPrefix(url, map[string]string{"daemon": "git://127.0.0.1:", "http": "http://127.0.0.1:"}[tc.name]) {
				t.Errorf("URL %q", url)
			}

			a := Clone(t, url, filepath.Join(t.TempDir(), "a")) // empty remote: the CLI can
			a.Write("orgs/acme.yaml", "version: v1\n")
			c1 := a.Commit("v1")
			a.Push()
			if got := Git(t, bare, "rev-parse", "refs/heads/main"); got != c1 {
				t.Fatalf("bare main = %s; want %s", got, c1)
			}
			a.Write("orgs/acme.yaml", "version: v2\n")
			c2 := a.Commit("v2")
			a.Push()

			b := Clone(t, url, filepath.Join(t.TempDir(), "b"))
			if got := b.Head(); got != c2 {
				t.Fatalf("second clone HEAD = %s; want %s", got, c2)
			}
			c3 := b.Revert(c2)
			b.Push()
			if got := Git(t, bare, "show", "main:orgs/acme.yaml"); got != "version: v1" {
				t.Errorf("after revert, acme.yaml = %q; want version: v1", got)
			}
			if got := Git(t, bare, "log", "-1", "--format=%an <%ae> %s", c3); got != AuthorName+" <"+AuthorEmail+`> Revert "v2"` {
				t.Errorf("revert commit = %q", got)
			}
			if got := Git(t, bare, "rev-parse", c3+"^"); got != c2 {
				t.Errorf("revert parent = %s; want %s", got, c2)
			}
		})
	}
}

// TestDaemonCleanupKillsGroup checks the daemon is gone once its test ends.
func TestDaemonCleanupKillsGroup(t *testing.T) {
	root := t.TempDir()
	NewBareRepo(t, root, "config")
	var addr string
	t.Run("serve", func(t *testing.T) {
		url := StartDaemon(t, root)
		addr = strings.TrimPrefix(url, "git://")
		Git(t, root, "ls-remote", url+"/config.git") // served while the test runs
	})
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("daemon at %s still accepts connections after cleanup", addr)
	}
}

// TestHTTPAuthAndCounts checks basic auth and the request counters.
func TestHTTPAuthAndCounts(t *testing.T) {
	root := t.TempDir()
	bare := NewBareRepo(t, root, "config")
	seedClone := Clone(t, bare, filepath.Join(t.TempDir(), "seed"))
	seedClone.Write("a.txt", "a\n")
	seedClone.Commit("a")
	seedClone.Push()

	srv := NewHTTPServer(t, root, WithBasicAuth("ci", "pw-123"))
	url := srv.URL + "/config.git"
	if _, err := run(root, "ls-remote", url); err == nil {
		t.Fatal("ls-remote without credentials succeeded")
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("Requests after refused call = %d; want 0 (refused requests are not served)", n)
	}
	authed := strings.Replace(url, "http://", "http://ci:pw-123@", 1)
	Git(t, root, "-c", "protocol.version=1", "ls-remote", authed) // v1 lists refs with a GET
	if srv.Requests() != 1 || srv.UploadPackRequests() != 0 {
		t.Errorf("after ls-remote: requests %d, upload-packs %d; want 1, 0", srv.Requests(), srv.UploadPackRequests())
	}
	Clone(t, authed, filepath.Join(t.TempDir(), "c"))
	if srv.UploadPackRequests() == 0 {
		t.Errorf("after clone: upload-packs 0; want >0")
	}
}

// TestEnvIsolated checks git sees no user or system configuration.
func TestEnvIsolated(t *testing.T) {
	t.Setenv("GIT_AUTHOR_NAME", "Someone Else")
	t.Setenv("GIT_DIR", "/nonexistent")
	dir := t.TempDir()
	Git(t, dir, "init", "--quiet")
	if got := Git(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
		t.Errorf("HEAD = %q; want refs/heads/main", got)
	}
	out, err := run(dir, "config", "--global", "--list")
	if err == nil && out != "" {
		t.Errorf("global config visible: %q", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	Git(t, dir, "add", "f")
	Git(t, dir, "commit", "--quiet", "-m", "m")
	if got := Git(t, dir, "log", "-1", "--format=%an|%cn"); got != AuthorName+"|"+AuthorName {
		t.Errorf("identity = %q", got)
	}
}
