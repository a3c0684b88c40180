package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// gitCLI runs the real git binary in one work tree, as a person would, isolated from the
// user's and the system's git configuration.
type gitCLI struct {
	dir string
}

func (g gitCLI) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Talon Demo", "GIT_AUTHOR_EMAIL=demo@talon.invalid",
		"GIT_COMMITTER_NAME=Talon Demo", "GIT_COMMITTER_EMAIL=demo@talon.invalid",
	)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// newConfigRepo creates a bare config repository at bare and a work clone of it at work.
func newConfigRepo(ctx context.Context, bare, work string) (gitCLI, error) {
	if _, err := (gitCLI{dir: filepath.Dir(bare)}).run(ctx, "init", "--quiet", "--bare", "-b", "main", bare); err != nil {
		return gitCLI{}, err
	}
	if _, err := (gitCLI{dir: filepath.Dir(work)}).run(ctx, "clone", "--quiet", bare, work); err != nil {
		return gitCLI{}, err
	}
	g := gitCLI{dir: work}
	_, err := g.run(ctx, "checkout", "--quiet", "-B", "main")
	return g, err
}

// commitFiles writes files (path → content), commits them with msg, pushes, and returns
// the new commit's hash.
func (g gitCLI) commitFiles(ctx context.Context, msg string, files map[string]string) (string, error) {
	for p, content := range files {
		full := filepath.Join(g.dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	if _, err := g.run(ctx, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := g.run(ctx, "commit", "--quiet", "-m", msg); err != nil {
		return "", err
	}
	return g.push(ctx)
}

// revert runs `git revert --no-edit sha`, pushes, and returns the new commit's hash.
func (g gitCLI) revert(ctx context.Context, sha string) (string, error) {
	if _, err := g.run(ctx, "revert", "--no-edit", sha); err != nil {
		return "", err
	}
	return g.push(ctx)
}

func (g gitCLI) push(ctx context.Context) (string, error) {
	if _, err := g.run(ctx, "push", "--quiet", "origin", "HEAD:main"); err != nil {
		return "", err
	}
	return g.run(ctx, "rev-parse", "HEAD")
}
