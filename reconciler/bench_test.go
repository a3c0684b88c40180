package reconciler_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

const benchSize = 64 << 20

// bigModel writes a valid 64 MiB PdM model (v1 padded with an unused initializer).
func bigModel(b *testing.B) string {
	b.Helper()
	m, err := pdm.ModelWithPadding(pdm.V1(), benchSize)
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "big.onnx")
	if err := os.WriteFile(p, m, 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkPullVerifyDeploy64MiB is Talon's path for a new version: resolve the tag once,
// fetch the manifest by digest, stream the model layer through digest verification into
// the store (write, fsync, rename, fsync dir) and swap the deployed symlink durably.
// Compare with BenchmarkCpSync64MiB.
func BenchmarkPullVerifyDeploy64MiB(b *testing.B) {
	src := bigModel(b)
	host := registrytest.Start(b)
	client, err := registry.New()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ref := host + "/acme/pdm:big"
	if _, err := client.Push(ctx, ref, registry.PushInput{ModelPath: src}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		b.StopTimer()
		st, err := store.Open(b.TempDir(), store.WithoutEncryptionUnsafe())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		d, err := client.Resolve(ctx, ref)
		if err != nil {
			b.Fatal(err)
		}
		art, err := client.Fetch(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		rc, err := art.OpenModel(ctx)
		if err != nil {
			b.Fatal(err)
		}
		_, err = st.Put(ctx, store.Record{Org: "acme", Version: "big", Digest: d.DigestStr(), ModelDigest: art.Model.Digest.String()}, rc)
		rc.Close()
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Deploy(ctx, "acme", "big", "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCpSync64MiB is the baseline: the cp and sync commands on the same bytes.
func BenchmarkCpSync64MiB(b *testing.B) {
	src := bigModel(b)
	b.SetBytes(benchSize)
	for b.Loop() {
		b.StopTimer()
		dst := filepath.Join(b.TempDir(), "copy.onnx")
		b.StartTimer()
		if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v: %s", err, out)
		}
		if out, err := exec.Command("sync", dst).CombinedOutput(); err != nil {
			b.Fatalf("sync: %v: %s", err, out)
		}
	}
}
