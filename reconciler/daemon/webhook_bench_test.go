package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/reconciler/daemon"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
)

// BenchmarkWebhookToServing measures what a person waits for: from a signed GitHub push
// webhook for a commit that bumps acme to a new signed version, to the first inference
// answered by that version (git fetch, parse, resolve, verify, pull into the encrypted
// store, load, deploy, swap, and the answer). Each iteration also times, alone and on
// the same artifact, what Talon cannot avoid: resolve the tag, fetch and verify its
// cosign signature, fetch the manifest, read the model layer and load it into ONNX
// Runtime. Both are timed on an idle daemon (see quiet), in turn first. ns/op is
// the webhook path; "ratio" is webhook path / pull+verify+load over the means and
// "ratio-p50" over the medians, the one to read on a machine whose disk and memory
// stall now and then (goal ≤ 1.2). Every version is a new artifact, so nothing comes
// from a cache. Run it with -benchtime=16x: the registry keeps every version in memory.
func BenchmarkWebhookToServing(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 20} {
		name := fmt.Sprintf("%dKiB", size>>10)
		if size >= 1<<20 {
			name = fmt.Sprintf("%dMiB", size>>20)
		}
		b.Run(name, func(b *testing.B) { benchWebhook(b, size) })
	}
}

// quiet is how long the benchmark lets the daemon settle before each timed part.
const quiet = 700 * time.Millisecond

func benchWebhook(b *testing.B, size int) {
	lib, err := inference.FindORTLibrary("")
	if err == nil {
		err = inference.InitRuntime(lib)
	}
	if err != nil {
		b.Fatal(err)
	}
	w := newDaemonWorld(b)
	repo := w.RegHost + "/acme/pdm"
	keys := keyDir(b, "acme")
	modelPath := filepath.Join(b.TempDir(), "model.onnx")
	// release is CI and a person: push and sign version i, commit and push the bump.
	release := func(i int) (tag, commit string) {
		tag = fmt.Sprintf("r%d", i)
		model, err := pdm.ModelWithPadding([]pdm.Weights{pdm.V1(), pdm.V2()}[i%2], size-4*i)
		if err == nil {
			err = os.WriteFile(modelPath, model, 0o644)
		}
		if err != nil {
			b.Fatal(err)
		}
		pushSigned(b, w.Client, w.Signer, repo+":"+tag, registry.PushInput{ModelPath: modelPath})
		return tag, w.desire("acme", tag)
	}

	secret := []byte("bench-webhook-secret")
	tag, commit := release(0)
	data := b.TempDir()
	base, _ := runDaemon(b, daemon.Config{
		ConfigRepo: w.RepoURL, DataDir: data, KeyDir: keys, Listen: "127.0.0.1:0",
		PollInterval: time.Hour, WebhookSecret: secret, Replica: "bench",
	})
	awaitVersion(b, base, tag)
	awaitStatus(b, w.Clone, commit)

	key, err := cosign.ParsePublicKey("keys/ci.pub", w.Pub)
	if err != nil {
		b.Fatal(err)
	}
	verifier, err := cosign.NewKeyVerifier(key)
	if err != nil {
		b.Fatal(err)
	}
	sigs := cosign.NewFetcher(w.Client)
	var viaWebhook, alone []time.Duration
	n := 0
	measured := map[string]bool{}
	for b.Loop() {
		b.StopTimer()
		n++
		tag, commit := release(n)
		measured[commit] = true
		// Both are timed on an idle daemon (the previous pass, its status push and the
		// housekeeping after it have ended), on the same artifact, each first in every
		// other iteration: what the release left behind (garbage, memory to return to
		// the system) weighs on neither more than on the other.
		timeAlone := func() {
			time.Sleep(quiet)
			alone = append(alone, pullVerifyLoad(b, w.Client, sigs, verifier, repo+":"+tag))
		}
		timeWebhook := func() {
			time.Sleep(quiet)
			b.StartTimer()
			start := time.Now()
			sendPushHook(b, base, secret, commit)
			awaitVersion(b, base, tag)
			viaWebhook = append(viaWebhook, time.Since(start))
			b.StopTimer()
			awaitStatus(b, w.Clone, commit)
		}
		if n%2 == 0 {
			timeWebhook()
			timeAlone()
		} else {
			timeAlone()
			timeWebhook()
		}
		b.StartTimer()
	}
	// Means and medians: this machine's disk and memory stall now and then, for either
	// path; the median ratio is the one to read, the mean shows the stalls.
	b.ReportMetric(ms(mean(viaWebhook)), "ms/webhook-to-serving")
	b.ReportMetric(ms(mean(alone)), "ms/pull-verify-load")
	b.ReportMetric(ms(median(viaWebhook)), "ms/webhook-to-serving-p50")
	b.ReportMetric(ms(median(alone)), "ms/pull-verify-load-p50")
	b.ReportMetric(float64(mean(viaWebhook))/float64(mean(alone)), "ratio")
	b.ReportMetric(float64(median(viaWebhook))/float64(median(alone)), "ratio-p50")
	for stage, ms := range stageTimes(b, data, measured) {
		b.ReportMetric(ms/float64(n), "ms/"+stage)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(len(ds), 1))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// stageTimes sums the pipeline log's stage durations of the runs for the given commits.
func stageTimes(b *testing.B, data string, commits map[string]bool) map[string]float64 {
	b.Helper()
	logs, err := filepath.Glob(filepath.Join(data, "pipeline", "acme", "logs", "*.jsonl"))
	if err != nil || len(logs) == 0 {
		b.Fatalf("pipeline logs: %v %v", logs, err)
	}
	sum := map[string]float64{}
	for _, path := range logs {
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var e struct {
				Commit, Stage, Result string
				DurationMs            float64
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				b.Fatalf("pipeline log line %q: %v", line, err)
			}
			if commits[e.Commit] && e.Stage != "" {
				sum[e.Stage] += e.DurationMs
			}
		}
	}
	return sum
}

// pullVerifyLoad is the floor of a deploy: resolve, verify the signature, fetch the
// manifest, read the model layer (digest-checked) and load it into ONNX Runtime.
func pullVerifyLoad(b *testing.B, c *registry.Client, sigs *cosign.Fetcher, v cosign.Verifier, ref string) time.Duration {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	d, err := c.Resolve(ctx, ref)
	if err != nil {
		b.Fatal(err)
	}
	set, err := sigs.Fetch(ctx, d)
	if err == nil {
		_, err = cosign.Verify(set, d, v, cosign.Options{})
	}
	if err != nil {
		b.Fatal(err)
	}
	art, err := c.Fetch(ctx, d)
	if err != nil {
		b.Fatal(err)
	}
	rc, err := art.OpenModel(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// Read into a buffer of exactly the layer's size, as Talon does (a bytes.Buffer would
	// grow to twice the size for its final read), then to the end of the stream: the
	// verified reader checks the digest there.
	model := make([]byte, art.Model.Size)
	_, err = io.ReadFull(rc, model)
	if err == nil {
		var one [1]byte
		if n, end := rc.Read(one[:]); n != 0 || end != io.EOF {
			err = fmt.Errorf("model layer: %d more bytes, %v; want the verified end", n, end)
		}
	}
	rc.Close()
	if err != nil {
		b.Fatal(err)
	}
	m, err := inference.LoadModel(ctx, model, inference.ModelInfo{Org: "acme", Version: ref, Digest: d.DigestStr()}, inference.LoadOptions{})
	took := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	m.Close()
	return took
}

// awaitVersion polls inference every millisecond until acme answers with version; the
// bound only stops a broken run from hanging.
func awaitVersion(b *testing.B, base, version string) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		a, _, err := infer(base, "acme")
		if err == nil && a.Version == version {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("acme never served %s (last: %+v, %v)", version, a, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// awaitStatus waits until the status branch records commit, which the daemon writes at
// the end of the pass that deployed it.
func awaitStatus(b *testing.B, clone *gittest.WorkClone, commit string) {
	b.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		clone.Git("fetch", "--quiet", "origin")
		if out, err := gitShow(clone, "origin/talon-status:status/acme/bench.yaml"); err == nil && strings.Contains(out, "observedCommit: "+commit) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("status never recorded %s", commit)
		}
	}
}
