package store

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// Direct I/O geometry: buffers and file offsets of direct writes are multiples of
// directAlign (the largest logical block size in use, so 512-byte devices are covered).
const (
	directAlign   = 4096
	directBufSize = 1 << 20
)

// directWriter writes a large file through a second handle opened with O_DIRECT
// (openDirect), so its bytes go from an aligned buffer to the disk without being copied
// into the page cache: that copy, and the kernel writing the dirty pages back during the
// fsync, are a quarter to a third of a pull's CPU time. It collects writes in an aligned
// buffer and writes each full buffer at its offset; finish writes the last aligned part
// the same way and the unaligned tail through f. A file smaller than the buffer never
// uses O_DIRECT. Where the file system refuses direct I/O (EINVAL) it falls back to f,
// rewriting the refused block. Nothing is durable until f is fsynced, exactly as with
// buffered writes. (Writing the buffers from a second goroutine gained nothing measurable
// on a 2-core machine: the pull is CPU-bound.)
type directWriter struct {
	f   *os.File // the file as created: the tail, fallback writes, fsync
	d   *os.File // the O_DIRECT handle, opened when the first buffer is full
	off bool     // direct I/O refused (or not tried): write through f
	buf []byte   // directBufSize bytes, aligned to directAlign; allocated by the first Write
	n   int      // bytes in buf
	at  int64    // file offset of buf[0]
}

// newFileWriter returns the writer writeDurable fills f through: a directWriter when
// large, else a writeback writer.
func newFileWriter(f *os.File, large bool) fileWriter {
	if !large {
		return &writeback{f: f}
	}
	return &directWriter{f: f}
}

// fileWriter is what writeDurable fills: finish writes what is still buffered, close
// releases what the writer holds after a failure.
type fileWriter interface {
	Write(p []byte) (int, error)
	finish() error
	close()
}

// alignedBuf returns n bytes whose address is a multiple of directAlign.
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(&b[0]))%directAlign)) % directAlign
	return b[skip : skip+n : skip+n]
}

// Write implements io.Writer.
func (w *directWriter) Write(p []byte) (int, error) {
	if w.buf == nil {
		w.buf = alignedBuf(directBufSize)
	}
	total := 0
	for len(p) > 0 {
		c := copy(w.buf[w.n:], p)
		w.n += c
		p = p[c:]
		total += c
		if w.n == len(w.buf) {
			if err := w.flush(w.n); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// flush writes buf[:k] (k a multiple of directAlign unless direct I/O is off) at its
// offset, directly or, when the file system refuses that, through f, and moves what
// follows k to the front of buf.
func (w *directWriter) flush(k int) error {
	if k == 0 {
		return nil
	}
	if w.d == nil && !w.off {
		if w.d = openDirect(w.f.Name()); w.d == nil {
			w.off = true
		}
	}
	var err error
	if w.d != nil {
		_, err = w.d.WriteAt(w.buf[:k], w.at)
		if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP) {
			// The file system opens with O_DIRECT but refuses this write: go
			// through the page cache from here on, rewriting this block whole.
			w.close()
			w.off = true
		}
	}
	if w.d == nil {
		_, err = w.f.WriteAt(w.buf[:k], w.at)
	}
	if err != nil {
		return err
	}
	w.at += int64(k)
	w.n = copy(w.buf, w.buf[k:w.n])
	return nil
}

// finish writes the aligned part of what is buffered directly (when the file is larger
// than one buffer, so O_DIRECT is in use already) and the rest through f, then closes
// the O_DIRECT handle.
func (w *directWriter) finish() error {
	var err error
	if w.d != nil {
		err = w.flush(w.n &^ (directAlign - 1))
	}
	if err == nil && w.n > 0 {
		_, err = w.f.WriteAt(w.buf[:w.n], w.at)
		w.at += int64(w.n)
		w.n = 0
	}
	if w.d != nil {
		if cerr := w.d.Close(); err == nil {
			err = cerr
		}
		w.d = nil
	}
	return err
}

// close releases the O_DIRECT handle (after a failure, or when direct I/O is refused).
func (w *directWriter) close() {
	if w.d != nil {
		w.d.Close()
		w.d = nil
	}
}
