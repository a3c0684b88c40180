package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
	"github.com/eaglenotifier/talon/reconciler/rollback"
)

func orgFile(version, extra string) string {
	return "org: acme\nmodel:\n  repository: registry.example.com/acme/pdm\n  version: " + version + "\n" + extra
}

// TestRollbackCLI: over authenticated smart HTTP with credentials from the environment,
// rollback pushes git revert's commit and prints its sha and subject, never the password;
// --to going nowhere and a conflicting later commit exit 1 and push nothing.
func TestRollbackCLI(t *testing.T) {
	root := t.TempDir()
	bare := gittest.NewBareRepo(t, root, "config")
	srv := gittest.NewHTTPServer(t, root, gittest.WithBasicAuth("ci", "pw-s3cret"))
	authed := strings.Replace(srv.URL, "http://", "http://ci:pw-s3cret@", 1) + "/config.git"
	wc := gittest.Clone(t, authed, filepath.Join(t.TempDir(), "wc"))
	wc.Write("orgs/acme.yaml", orgFile("v1", ""))
	wc.Commit("acme v1")
	wc.Write("orgs/acme.yaml", orgFile("v2", ""))
	bump := wc.Commit("acme v2")
	wc.Push()
	url := srv.URL + "/config.git"

	if _, err := run(t, "rollback", "--config-repo", url, "--org", "acme"); err == nil || exitCode(err) != 1 ||
		strings.Contains(err.Error(), "pw-s3cret") {
		t.Fatalf("rollback without credentials = %v; want an exit-1 error without the password", err)
	}
	t.Setenv(envGitUsername, "ci")
	t.Setenv(envGitPassword, "pw-s3cret")

	if _, err := run(t, "rollback", "--config-repo", url, "--org", "acme", "--to", "v7"); !errors.Is(err, rollback.ErrVersionNotFound) || exitCode(err) != 1 {
		t.Errorf("--to v7 = %v; want ErrVersionNotFound, exit 1", err)
	}
	out, err := run(t, "rollback", "--config-repo", url, "--org", "acme")
	if err != nil {
		t.Fatal(err)
	}
	head := gittest.Git(t, bare, "rev-parse", "main")
	if want := head + " Revert \"acme v2\"\n"; out != want {
		t.Errorf("stdout = %q; want %q", out, want)
	}
	if got := gittest.Git(t, bare, "log", "-1", "--format=%B", "main"); got != "Revert \"acme v2\"\n\nThis reverts commit "+bump+"." {
		t.Errorf("message = %q", got)
	}

	// A later commit on the same lines: not clean, exit 1, nothing pushed.
	wc.Git("pull", "--quiet")
	wc.Write("orgs/acme.yaml", orgFile("v3", ""))
	wc.Commit("acme v3")
	wc.Write("orgs/acme.yaml", orgFile(`"v3"`, ""))
	wc.Commit("acme: quote")
	wc.Push()
	before := gittest.Git(t, bare, "rev-parse", "main")
	_, err = run(t, "rollback", "--config-repo", authed, "--org", "acme")
	if !errors.Is(err, rollback.ErrNotClean) || exitCode(err) != 1 || !strings.Contains(err.Error(), "orgs/acme.yaml") ||
		strings.Contains(err.Error(), "pw-s3cret") {
		t.Errorf("not clean rollback = %v", err)
	}
	if got := gittest.Git(t, bare, "rev-parse", "main"); got != before {
		t.Errorf("main moved to %s", got)
	}
}

func TestRollbackUsage(t *testing.T) {
	for _, args := range [][]string{
		{"rollback", "--org", "acme"},
		{"rollback", "--config-repo", "x"},
		{"rollback", "--config-repo", "x", "--org", "acme", "--author", "no-email"},
		{"rollback", "--config-repo", "x", "--org", "acme", "extra"},
	} {
		if _, err := run(t, args...); exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d); want exit 2", args, err, exitCode(err))
		}
	}
}
