package store

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteLargeSizes writes model files of sizes around the direct I/O block and buffer
// boundaries, in pieces of awkward sizes (age writes 64 KiB + 16), and reads back
// exactly what was written, with no temporary file left.
func TestWriteLargeSizes(t *testing.T) {
	sizes := []int{0, 1, directAlign - 1, directAlign, directAlign + 1, directBufSize - 1, directBufSize,
		directBufSize + 1, directBufSize + directAlign, 3*directBufSize + 5000}
	for _, size := range sizes {
		for _, piece := range []int{1 << 20, 64<<10 + 16, 4093} {
			data := randomBytes(uint64(size), size)
			path := filepath.Join(t.TempDir(), "model_v1.onnx.age")
			fill := func(w io.Writer) (int64, error) {
				var n int64
				for rest := data; len(rest) > 0; {
					k := min(piece, len(rest))
					m, err := w.Write(rest[:k])
					n += int64(m)
					if err != nil {
						return n, err
					}
					rest = rest[k:]
				}
				return n, nil
			}
			n, err := writeFile(context.Background(), path, fill, nil, writeMode{large: true})
			if err != nil || n != int64(size) {
				t.Fatalf("size %d in pieces of %d: wrote %d, %v", size, piece, n, err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d in pieces of %d: read back %d bytes (equal %v), %v", size, piece, len(got), bytes.Equal(got, data), err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Fatalf("size %d: directory holds %d entries, want only the file", size, len(entries))
			}
		}
	}
}

// TestDirectWriterFallsBack: when the kernel refuses a direct write (here: a buffer that
// is not aligned in memory, EINVAL), the writer rewrites that block through the page
// cache and goes on that way; the file gets every byte.
func TestDirectWriterFallsBack(t *testing.T) {
	data := randomBytes(7, 2*directBufSize+123)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &directWriter{f: f, buf: alignedBuf(directBufSize + 1)[1:]}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	if !w.io.off.Load() {
		t.Log("the file system took the misaligned direct write; the fallback was not exercised")
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d of %d bytes (equal %v), %v", len(got), len(data), bytes.Equal(got, data), err)
	}
}
