package rollback

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// repo is a config repository served by git daemon, with a person's work clone.
type repo struct {
	t    testing.TB
	bare string
	url  string
	wc   *gittest.WorkClone
}

func newRepo(t testing.TB) *repo {
	root := t.TempDir()
	bare := gittest.NewBareRepo(t, root, "config")
	url := gittest.StartDaemon(t, root) + "/config.git"
	return &repo{t: t, bare: bare, url: url, wc: gittest.Clone(t, url, filepath.Join(t.TempDir(), "wc"))}
}

// commit writes files (content "" removes the file), commits with msg and pushes.
func (r *repo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for p, c := range files {
		if c == "" {
			r.wc.Remove(p)
		} else {
			r.wc.Write(p, c)
		}
	}
	sha := r.wc.Commit(msg)
	r.wc.Push()
	return sha
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	return gittest.Git(r.t, r.bare, args...)
}

func (r *repo) head() string { return r.git("rev-parse", "main") }

// message is the exact message of commit sha in the bare repository.
func (r *repo) message(sha string) string {
	r.t.Helper()
	return messageIn(r.t, r.bare, sha)
}

func messageIn(t testing.TB, dir, sha string) string {
	t.Helper()
	raw := gittest.Git(t, dir, "cat-file", "commit", sha)
	_, msg, _ := strings.Cut(raw, "\n\n")
	return msg
}

// cliRevert clones the repository at its current head, runs `git revert --no-edit shas...`
// and returns the resulting tree and the new commits' messages, oldest first; ok is false
// when git could not revert cleanly.
func (r *repo) cliRevert(shas ...string) (tree string, msgs []string, ok bool) {
	r.t.Helper()
	dir := filepath.Join(r.t.TempDir(), "scratch")
	gittest.Clone(r.t, r.url, dir)
	cmd := exec.Command("git", append([]string{"revert", "--no-edit"}, shas...)...)
	cmd.Dir, cmd.Env = dir, gittest.Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", nil, false
	}
	for i := len(shas); i > 0; i-- {
		msgs = append(msgs, messageIn(r.t, dir, "HEAD~"+itoa(i-1)))
	}
	return gittest.Git(r.t, dir, "rev-parse", "HEAD^{tree}"), msgs, true
}

func itoa(i int) string { return string(rune('0' + i)) }

// org is the text of orgs/<name>.yaml asking for version, with extra lines appended.
func org(name, version, extra string) string {
	return "# " + name + "'s model\norg: " + name + "\nmodel:\n  repository: registry.example.com/" + name +
		"/pdm\n  version: " + version + "\n" + extra
}

const retention = `retention:
  maxVersions: 5
  keepDays: 30
`
