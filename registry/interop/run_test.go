//go:build interop

package interop_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestTalonRunDeploysCosignSignedArtifacts: the talon binary as an operator runs it,
// against Debian's docker-registry and a config repo driven with the git CLI: an artifact
// pushed by talon push and signed by `cosign sign`, then a plain `oras push` of one .onnx
// signed by cosign, each deployed and answering inference; an artifact cosign did not sign
// is refused while the last good model keeps answering.
func TestTalonRunDeploysCosignSignedArtifacts(t *testing.T) {
	reg, e, dir := startRegistry(t), newEnv(t), t.TempDir()
	talon := buildTalon(t)
	cosKey, _ := cosignKeygen(t, e, dir, "cosign")

	out := e.must(t, dir, talon, "push", abs(t, modelV1), reg.host+"/acme/pdm:v1")
	cosignSign(t, e, cosKey, lastLine(out))
	if err := os.WriteFile(filepath.Join(dir, "pdm.onnx"), readFile(t, modelV2), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must(t, dir, "oras", "push", "--plain-http", reg.host+"/acme/pdm:v2", "pdm.onnx")
	cosignSign(t, e, cosKey, reg.host+"/acme/pdm:v2")
	e.must(t, dir, talon, "push", abs(t, modelV2), reg.host+"/acme/pdm:unsigned")

	bare, work := filepath.Join(dir, "config.git"), filepath.Join(dir, "work")
	git(t, dir, "init", "--quiet", "--bare", "-b", "main", bare)
	git(t, dir, "clone", "--quiet", bare, work)
	pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	desire := func(tag string) {
		writeFile(t, filepath.Join(work, "keys", "cosign.pub"), string(pub))
		writeFile(t, filepath.Join(work, "orgs", "acme.yaml"), fmt.Sprintf(
			"org: acme\nmodel: {repository: %s/acme/pdm, version: %s}\ntrust: {keys: [keys/cosign.pub]}\n", reg.host, tag))
		git(t, work, "add", "-A")
		git(t, work, "commit", "--quiet", "-m", "acme "+tag)
		git(t, work, "push", "--quiet", "origin", "HEAD:main")
	}
	desire("v1")
	e.must(t, dir, talon, "store", "keygen", "--org", "acme", "--keys", filepath.Join(dir, "keys"))

	addr := freeAddr(t)
	cmd := exec.Command(tool(t, talon), "run", "--config-repo", bare, "--data", filepath.Join(dir, "data"),
		"--keys", filepath.Join(dir, "keys"), "--listen", addr, "--poll-interval", "200ms", "--replica", "interop")
	cmd.Env = append(os.Environ(), "HOME="+e.home, "DOCKER_CONFIG="+filepath.Join(e.home, ".docker"))
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("talon run logs:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	awaitVersion(t, base, "v1")
	desire("v2")
	awaitVersion(t, base, "v2")
	desire("unsigned")
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), `"step":"verify"`) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"step":"verify"`) {
		t.Fatalf("the unsigned artifact was not refused at verify:\n%s", logs.String())
	}
	if v, err := inferVersion(base); err != nil || v != "v2" {
		t.Fatalf("after an unsigned artifact acme answers %q, %v; want v2", v, err)
	}
}

// lockedBuffer collects a subprocess's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=Interop", "GIT_AUTHOR_EMAIL=interop@test.invalid", "GIT_COMMITTER_NAME=Interop", "GIT_COMMITTER_EMAIL=interop@test.invalid")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// inferVersion asks acme for one prediction and returns the version that answered.
func inferVersion(base string) (string, error) {
	body := `{"inputs":[{"name":"sensors","datatype":"FP32","shape":[1,6],"data":[86,5.5,5.8,33,2100,13000]}]}`
	resp, err := http.Post(base+"/v2/models/acme/infer", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	var out struct {
		ModelVersion string `json:"model_version"`
	}
	return out.ModelVersion, json.Unmarshal(b, &out)
}

func awaitVersion(t *testing.T, base, version string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		v, err := inferVersion(base)
		if err == nil && v == version {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("acme never answered with %s (last %q, %v)", version, v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
