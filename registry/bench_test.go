package registry_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

const benchSize = 64 << 20

// BenchmarkPull64MiB: Resolve + Fetch + OpenModel + copy to a file + fsync, against the
// in-process registry. Compare with BenchmarkCopy64MiB in the same run.
func BenchmarkPull64MiB(b *testing.B) {
	ctx := context.Background()
	host := registrytest.Start(b)
	c := newClient(b)
	dir := b.TempDir()
	ref := host + "/bench/model:v1"
	in := registry.PushInput{ModelPath: writeFile(b, dir, "model.onnx", randomBytes(9, benchSize))}
	if _, err := c.Push(ctx, ref, in); err != nil {
		b.Fatal(err)
	}
	dst := filepath.Join(dir, "pulled.onnx")
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		d, err := c.Resolve(ctx, ref)
		if err != nil {
			b.Fatal(err)
		}
		a, err := c.Fetch(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		rc, err := a.OpenModel(ctx)
		if err != nil {
			b.Fatal(err)
		}
		copyAndSync(b, dst, rc)
	}
}

// BenchmarkCopy64MiB is the baseline: copy the same bytes from a file to a file + fsync.
func BenchmarkCopy64MiB(b *testing.B) {
	dir := b.TempDir()
	src := writeFile(b, dir, "model.onnx", randomBytes(9, benchSize))
	dst := filepath.Join(dir, "copied.onnx")
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		copyAndSync(b, dst, f)
	}
}

func copyAndSync(b *testing.B, dst string, r io.ReadCloser) {
	defer r.Close()
	f, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != benchSize {
		b.Fatalf("copied %d bytes: %v", n, err)
	}
}
