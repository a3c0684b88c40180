// Package gittest runs real git for tests: bare repositories on disk, a git daemon, a smart
// HTTP server over git-http-backend, and work clones driven with the git CLI exactly as a
// person would (clone, edit, commit, push, revert). It needs the git binary; it has no mocks.
package gittest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Fixed identity of every commit made by this package.
const (
	AuthorName  = "Talon Test"
	AuthorEmail = "talon-test@example.invalid"
)

// NewBareRepo creates an empty bare repository at root/name.git whose default branch is main,
// with http.receivepack enabled so StartHTTP can accept pushes. It returns the repository's
// path. The test fails if git does.
func NewBareRepo(t testing.TB, root, name string) string {
	t.Helper()
	dir := filepath.Join(root, name+".git")
	Git(t, root, "init", "--quiet", "--bare", "-b", "main", dir)
	Git(t, dir, "config", "http.receivepack", "true")
	return dir
}

// Git runs the git CLI in dir with an environment isolated from the user's and the system's
// configuration, and returns its trimmed stdout. The test fails with git's stderr when git
// exits non-zero.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := run(dir, args...)
	if err != nil {
		t.Fatalf("git %s (in %s): %v", strings.Join(args, " "), dir, err)
	}
	return out
}

// gitErr is a failed git invocation with its stderr.
type gitErr struct {
	err    error
	stderr string
}

func (e *gitErr) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

func run(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", &gitErr{err: err, stderr: stderr.String()}
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Env returns the environment this package runs git with: the process environment without
// any GIT_* variable, plus HOME pointing at nothing, no system or global config, no terminal prompts,
// and the fixed test author and committer.
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "HOME=") ||
			strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+os.DevNull,
		"XDG_CONFIG_HOME="+os.DevNull,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME="+AuthorName,
		"GIT_AUTHOR_EMAIL="+AuthorEmail,
		"GIT_COMMITTER_NAME="+AuthorName,
		"GIT_COMMITTER_EMAIL="+AuthorEmail,
	)
}

// LockedBuffer is a bytes.Buffer safe for a writer (a child process, a logger) and a
// reading test.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *LockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
