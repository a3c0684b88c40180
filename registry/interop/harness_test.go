//go:build interop

package interop_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/eaglenotifier/talon/registry"
)

// toolTimeout bounds each third-party command.
const toolTimeout = 3 * time.Minute

// tool returns the path of a third-party CLI: from the repository's .cache/tools/bin (where
// `make interop` installs cosign, crane and oras), else from PATH. A missing tool fails
// the test: these tests exist to run the real tools.
func tool(t *testing.T, name string) string {
	t.Helper()
	if filepath.IsAbs(name) {
		return name
	}
	if dir, err := os.Getwd(); err == nil {
		for d := dir; ; d = filepath.Dir(d) {
			p := filepath.Join(d, ".cache", "tools", "bin", name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p
			}
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil || filepath.Dir(d) == d {
				break
			}
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in .cache/tools/bin or PATH: run `make interop`, which installs it", name)
	}
	return p
}

// env is the environment of third-party commands: a private HOME (no Docker credentials,
// no sigstore cache of the user's) and the key password for cosign.
type env struct {
	home     string
	password string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{home: t.TempDir(), password: "interop-password"}
}

// run runs a tool in dir and returns its stdout; a non-zero exit is returned as an error
// carrying stderr, for tests that expect a refusal.
func (e *env) run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool(t, name), args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + e.home, "PATH=" + os.Getenv("PATH"), "COSIGN_PASSWORD=" + e.password, "TALON_ORT_LIB=" + os.Getenv("TALON_ORT_LIB"),
		"TUF_ROOT=" + filepath.Join(e.home, ".sigstore"), "DOCKER_CONFIG=" + filepath.Join(e.home, ".docker")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// must runs a tool that must succeed.
func (e *env) must(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out, err := e.run(t, dir, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dockerRegistry is Debian's docker-registry serving plain HTTP on a loopback port, with its
// storage in a directory the test can tamper with.
type dockerRegistry struct {
	host string // 127.0.0.1:port
	root string // storage root directory
}

// startRegistry starts docker-registry with its own config file for the duration of t, in
// its own process group (killed at cleanup), and waits until it answers /v2/.
func startRegistry(t *testing.T) *dockerRegistry {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().String()
	ln.Close()
	r := &dockerRegistry{host: host, root: filepath.Join(dir, "storage")}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: interop-test-only
`, r.root, host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool(t, "docker-registry"), "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := client.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("docker-registry exited:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s did not answer /v2/ within 20s: %v", host, err)
		}
	}
}

// blobPath is where distribution's filesystem driver keeps blob d.
func (r *dockerRegistry) blobPath(d v1.Hash) string {
	return filepath.Join(r.root, "docker", "registry", "v2", "blobs", d.Algorithm, d.Hex[:2], d.Hex, "data")
}

// replaceBlob overwrites blob d on disk with edit(its bytes), as an attacker with access to
// the registry's disk would. The edit must change the bytes.
func (r *dockerRegistry) replaceBlob(t *testing.T, d v1.Hash, edit func([]byte) []byte) {
	t.Helper()
	p := r.blobPath(d)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("blob %s on disk: %v", d, err)
	}
	edited := edit(bytes.Clone(data))
	if bytes.Equal(edited, data) {
		t.Fatalf("edit of blob %s changed nothing", d)
	}
	if err := os.WriteFile(p, edited, 0o644); err != nil {
		t.Fatal(err)
	}
}

// newClient returns a Talon registry client that uses no local credentials.
func newClient(t *testing.T) *registry.Client {
	t.Helper()
	c, err := registry.New(registry.WithKeychain(authn.NewMultiKeychain()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
