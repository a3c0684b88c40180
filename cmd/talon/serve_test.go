package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/reconciler/store"
)

// TestServeFollowsDeploys runs `talon serve` on an encrypted store that the
// test deploys into, as the reconciler of another process would: the served
// version follows the deployed link, a corrupt model keeps the old one, and
// feedback, monitoring and /metrics answer.
func TestServeFollowsDeploys(t *testing.T) {
	dir, keys := t.TempDir(), filepath.Join(t.TempDir(), "keys")
	if _, err := store.GenerateKey(keys, "acme"); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir, store.WithKeyDir(keys))
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(version, file string) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "pdm", file))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		d := "sha256:" + hex.EncodeToString(sum[:])
		if _, err := st.Put(context.Background(), store.Record{Org: "acme", Version: version, Digest: d, ModelDigest: d}, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if err := st.Deploy(context.Background(), "acme", version, "commit-"+version); err != nil {
			t.Fatal(err)
		}
	}
	deploy("v1", "pdm-v1.onnx")

	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, serveConfig{dataDir: dir, keys: keys, listen: "127.0.0.1:0", poll: 10 * time.Millisecond,
			log: slog.New(slog.NewTextHandler(io.Discard, nil)), onListen: func(a string) { addr <- a }})
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// waitFor polls until cond holds (the watcher runs on its own clock).
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30s", what)
			}
		}
	}
	infer := func(id string) map[string]any {
		t.Helper()
		resp, err := http.Post(base+"/v2/models/acme/infer", "application/json", strings.NewReader(
			`{"id":"`+id+`","inputs":[{"name":"sensors","datatype":"FP32","shape":[1,6],"data":[86,5.5,5.8,33,2100,13000]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("infer: %d %v %v", resp.StatusCode, out, err)
		}
		return out
	}
	if got := infer("a")["model_version"]; got != "v1" {
		t.Fatalf("serving %v, want v1", got)
	}
	deploy("v2", "pdm-v2.onnx")
	waitFor("swap to v2", func() bool { return infer("b")["model_version"] == "v2" })

	deploy("v3", "not-onnx.onnx")
	waitFor("the failed load of v3 counted", func() bool {
		_, m := get("/metrics")
		return strings.Contains(m, `talon_model_loads_total{org="acme",outcome="error"} 1`)
	})
	if got := infer("c"); got["model_version"] != "v2" {
		t.Fatalf("after a corrupt deploy serving %v, want v2 still", got["model_version"])
	}
	_, m := get("/metrics")
	for _, want := range []string{
		`talon_model_info{commit="commit-v2",digest="sha256:`, `talon_model_swaps_total{org="acme"} 2`,
		`talon_inference_requests_total{org="acme",outcome="ok",version="v2"}`, "process_resident_memory_bytes",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	resp, err := http.Post(base+"/v2/models/acme/feedback", "application/json", strings.NewReader(`{"id":"c","label":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("feedback: %d", resp.StatusCode)
	}
	if code, body := get("/talon/v1/orgs/acme/monitoring"); code != 200 || !strings.Contains(body, `"serving_version":"v2"`) || !strings.Contains(body, `"feedback":1`) {
		t.Errorf("monitoring: %d %s", code, body)
	}
	if code, _ := get("/v2/health/ready"); code != 200 {
		t.Errorf("ready: %d", code)
	}
}

func TestServeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--models", "x"},
		{"serve", "--models", "x", "--keys", "k", "--no-encryption-unsafe"},
		{"serve", "--models", "x", "--no-encryption-unsafe", "--poll", "0s"},
	} {
		if _, err := run(t, args...); err == nil || exitCode(err) != 2 {
			t.Errorf("talon %s: err %v, exit %d; want a usage error", strings.Join(args, " "), err, exitCode(err))
		}
	}
}
