package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/reconciler/alerts"
	"github.com/eaglenotifier/talon/reconciler/daemon"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

const testdataDir = "../../testdata/pdm"

var row = [pdm.NumFeatures]float32{86, 5.5, 5.8, 33, 2100, 13000}

type answer struct {
	Version, Digest, Commit string
	P                       float32
}

// infer calls POST /v2/models/{org}/infer as a KServe v2 client would.
func infer(base, org string) (answer, int, error) {
	body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{
		"name": pdm.InputName, "datatype": "FP32", "shape": []int{1, pdm.NumFeatures}, "data": row[:],
	}}})
	resp, err := http.Post(base+"/v2/models/"+org+"/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		return answer{}, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return answer{}, resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, b)
	}
	var out struct {
		ModelVersion string            `json:"model_version"`
		Parameters   map[string]string `json:"parameters"`
		Outputs      []struct {
			Name string    `json:"name"`
			Data []float32 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return answer{}, resp.StatusCode, err
	}
	if len(out.Outputs) != 1 || out.Outputs[0].Name != pdm.OutputName || len(out.Outputs[0].Data) != 1 {
		return answer{}, resp.StatusCode, fmt.Errorf("unexpected outputs: %s", b)
	}
	if out.Parameters["talon_model_version"] != out.ModelVersion || resp.Header.Get("Talon-Model-Digest") != out.Parameters["talon_model_digest"] {
		return answer{}, resp.StatusCode, fmt.Errorf("provenance in body and headers disagree: %s / %v", b, resp.Header)
	}
	return answer{out.ModelVersion, out.Parameters["talon_model_digest"], out.Parameters["talon_config_commit"], out.Outputs[0].Data[0]}, resp.StatusCode, nil
}

// await polls until org serves version; the bound only stops a broken run from hanging.
func await(t *testing.T, base, org, version string) answer {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, _, err := infer(base, org)
		if err == nil && a.Version == version {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never served %s (last: %+v, %v)", org, version, a, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keyDir makes an age key for each org in a new directory.
func keyDir(tb testing.TB, orgs ...string) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, org := range orgs {
		if _, err := store.GenerateKey(dir, org); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// start runs the daemon on repoURL, polling every 100ms, as replica-a.
func start(t *testing.T, repoURL, data, keys string) (base string, stop func()) {
	t.Helper()
	return runDaemon(t, daemon.Config{
		ConfigRepo: repoURL, DataDir: data, KeyDir: keys, Listen: "127.0.0.1:0", PollInterval: 100 * time.Millisecond,
		Replica: "replica-a",
	})
}

// TestGitOpsStory is the demo's story as a test: a person drives the config repo with the
// git CLI through git daemon, Talon serves real ONNX Runtime answers for each step.
func TestGitOpsStory(t *testing.T) {
	root := t.TempDir()
	gittest.NewBareRepo(t, root, "config")
	repoURL := gittest.StartDaemon(t, root) + "/config.git"
	regHost, stopRegistry, err := registrytest.Serve()
	if err != nil {
		t.Fatal(err)
	}
	defer stopRegistry()
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string]string{}
	signer, pub := newSigner(t)
	for _, org := range []string{"acme", "globex"} {
		for _, tag := range []string{"v1", "v2"} {
			d := pushSigned(t, client, signer, regHost+"/"+org+"/pdm:"+tag, registry.PushInput{
				ModelPath: filepath.Join(testdataDir, "pdm-"+tag+".onnx"), MetadataPath: filepath.Join(testdataDir, "pdm-"+tag+".metadata.json"),
			})
			digests[org+":"+tag] = d.DigestStr()
		}
	}
	clone := gittest.Clone(t, repoURL, filepath.Join(t.TempDir(), "work"))
	clone.Write("keys/ci.pub", string(pub))
	desire := func(org, tag string) {
		clone.Write("orgs/"+org+".yaml", fmt.Sprintf("org: %s\nmodel:\n  repository: %s/%s/pdm\n  version: %s\ntrust: {keys: [keys/ci.pub]}\n", org, regHost, org, tag))
	}
	desire("acme", "v1")
	desire("globex", "v1")
	first := clone.Commit("acme and globex on v1")
	clone.Push()

	data, keys := t.TempDir(), keyDir(t, "acme", "globex")
	base, stop := start(t, repoURL, data, keys)
	v1, v2 := pdm.Predict(pdm.V1(), row), pdm.Predict(pdm.V2(), row)
	check := func(a answer, org, tag, commit string, want float32) {
		t.Helper()
		if a.Version != tag || a.Digest != digests[org+":"+tag] || a.Commit != commit || a.P < want-1e-5 || a.P > want+1e-5 {
			t.Fatalf("%s answered %+v, want %s %s from %s with p=%v", org, a, tag, digests[org+":"+tag], commit, want)
		}
	}
	check(await(t, base, "acme", "v1"), "acme", "v1", first, v1)
	check(await(t, base, "globex", "v1"), "globex", "v1", first, v1)

	desire("acme", "v2")
	bump := clone.Commit("acme: deploy v2")
	clone.Push()
	check(await(t, base, "acme", "v2"), "acme", "v2", bump, v2)
	check(await(t, base, "globex", "v1"), "globex", "v1", first, v1)

	revert := clone.Revert(bump)
	clone.Push()
	check(await(t, base, "acme", "v1"), "acme", "v1", revert, v1)
	if _, code, _ := infer(base, "initech"); code != http.StatusNotFound {
		t.Fatalf("unknown org answered %d, want 404", code)
	}

	// Prometheus sees which signed model serves, and the requests it answered.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`talon_model_info{commit="` + revert + `",digest="` + digests["acme:v1"] + `",org="acme",version="v1"} 1`,
		`talon_model_loads_total{org="acme"`,
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Status comes back to Git on its own branch; the tracked branch is untouched by it.
	statusFile := "origin/talon-status:status/acme/replica-a.yaml"
	var status string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		clone.Git("fetch", "--quiet", "origin")
		if out, err := gitShow(clone, statusFile); err == nil && strings.Contains(out, "observedCommit: "+revert) && strings.Contains(out, "version: v1") {
			status = out
			break
		}
		if time.Now().After(deadline) {
			out, err := gitShow(clone, statusFile)
			t.Fatalf("status branch never showed acme on v1 at %s: %s %v", revert, out, err)
		}
	}
	for _, want := range []string{"phase: Deployed", digests["acme:v1"], "type: Ready"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	if head := clone.Git("rev-parse", "origin/main"); head != revert {
		t.Fatalf("main moved to %s; status must not write to the tracked branch", head)
	}

	// A restart with the registry gone serves the deployed models from the store at once.
	stop()
	stopRegistry()
	base, _ = start(t, repoURL, data, keys)
	check(await(t, base, "acme", "v1"), "acme", "v1", revert, v1)
	check(await(t, base, "globex", "v1"), "globex", "v1", first, v1)
}

// TestWebhookAlertsPipelineLog: with polling effectively off, a signed GitHub push webhook
// makes Talon deploy at once; a bad version raises a Failed alert and a fix a Recovered
// one; every reconcile leaves its stages in pipeline/<org>/logs/.
func TestWebhookAlertsPipelineLog(t *testing.T) {
	w := newDaemonWorld(t)
	for _, tag := range []string{"v1", "v2"} {
		w.pushModel("acme", tag)
	}
	got := make(chan map[string]any, 16)
	sink := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		json.NewDecoder(r.Body).Decode(&ev)
		got <- ev
	}))
	t.Cleanup(sink.Close) // after the daemon has stopped

	w.desire("acme", "v1")
	secret := []byte("s3cret-webhook")
	data := t.TempDir()
	base, _ := runDaemon(t, daemon.Config{
		ConfigRepo: w.RepoURL, DataDir: data, KeyDir: keyDir(t, "acme"), Listen: "127.0.0.1:0", PollInterval: time.Hour,
		WebhookSecret: secret, Alerts: []alerts.Target{{URL: sink.URL, Events: alerts.Kinds}},
	})
	await(t, base, "acme", "v1")
	expectAlert(t, got, "Deployed", "v1")

	sendPushHook(t, base, secret, w.desire("acme", "v404"))
	expectAlert(t, got, "Failed", "v404")
	sendPushHook(t, base, secret, w.desire("acme", "v2"))
	await(t, base, "acme", "v2")
	expectAlert(t, got, "Recovered", "v2")

	req, _ := http.NewRequest(http.MethodPost, base+"/hooks/git", strings.NewReader(`{"ref":"refs/heads/main"}`))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a forged webhook got %v, %v; want 401", resp.Status, err)
	}

	logs, err := filepath.Glob(filepath.Join(data, "pipeline", "acme", "logs", "*.jsonl"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("pipeline logs: %v, %v", logs, err)
	}
	b, _ := os.ReadFile(logs[0])
	for _, want := range []string{`"stage":"resolve"`, `"stage":"pull"`, `"stage":"swap"`, "v404"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("pipeline log lacks %s:\n%s", want, b)
		}
	}
}

func newSigner(tb testing.TB) (*cosign.Signer, []byte) {
	tb.Helper()
	priv, pub, err := cosign.GenerateKeyPair([]byte("pw"))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := cosign.LoadPrivateKey("ci.key", priv, []byte("pw"))
	if err != nil {
		tb.Fatal(err)
	}
	return s, pub
}

// pushSigned pushes like CI: talon push, then talon sign of the pushed digest.
func pushSigned(tb testing.TB, c *registry.Client, s *cosign.Signer, ref string, in registry.PushInput) name.Digest {
	tb.Helper()
	d, err := c.Push(context.Background(), ref, in)
	if err == nil {
		_, err = cosign.Sign(context.Background(), c, d, s)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func gitShow(c *gittest.WorkClone, spec string) (string, error) {
	cmd := exec.Command("git", "show", spec)
	cmd.Dir = c.Dir
	cmd.Env = gittest.Env()
	out, err := cmd.Output()
	return string(out), err
}

func expectAlert(t *testing.T, got <-chan map[string]any, kind, version string) {
	t.Helper()
	for {
		select {
		case ev := <-got:
			if ev["kind"] == kind {
				if ev["org"] != "acme" || ev["version"] != version {
					t.Fatalf("%s alert = %v, want acme %s", kind, ev, version)
				}
				return
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s alert", kind)
		}
	}
}
