package store

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Direct I/O geometry: buffers and file offsets of direct writes are multiples of
// directAlign (the largest logical block size in use, so 512-byte devices are covered).
// directWriters writes are in flight at once, from directBufs buffers in all.
const (
	directAlign   = 4096
	directBufSize = 1 << 20
	directWriters = 2
	directBufs    = directWriters + 2
)

// directWriter writes a large file through a second handle opened with O_DIRECT
// (openDirect), so its bytes go from an aligned buffer to the disk without being copied
// into the page cache: that copy, and the kernel writing the dirty pages back during the
// fsync, are a quarter to a third of a pull's CPU time. It collects writes in an aligned
// buffer and hands each full buffer to a few I/O goroutines that write it at its offset,
// so the caller (encryption) goes on filling the next buffer while the disk works: a
// direct write returns only once the device has the bytes, which alone took half of a
// 512 MiB pull when it was done in line. finish waits for them, writes the last aligned
// part the same way and the unaligned tail through f. A file smaller than one buffer
// never uses O_DIRECT. Where the file system refuses direct I/O (EINVAL) it falls back to
// f, rewriting the refused block. Nothing is durable until f is fsynced, exactly as with
// buffered writes.
type directWriter struct {
	f   *os.File // the file as created: the tail, fallback writes, fsync
	buf []byte   // the buffer being filled, aligned to directAlign; allocated by the first Write
	n   int      // bytes in buf
	at  int64    // file offset of buf[0]
	io  *directIO
}

// directIO is the I/O side of a directWriter: its goroutines and what they share.
type directIO struct {
	f, d  *os.File // d is the O_DIRECT handle; nil when it could not be opened
	jobs  chan directJob
	free  chan []byte // buffers written out, to be filled again
	made  int         // buffers allocated so far (the filling side only)
	wg    sync.WaitGroup
	off   atomic.Bool // direct I/O refused: write through f
	mu    sync.Mutex
	err   error // the first write error
	ended bool  // jobs is closed
}

type directJob struct {
	b  []byte
	at int64
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

// Write implements dio.Writer.
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
			if err := w.flush(); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// flush hands the full buffer to the I/O goroutines (starting them the first time) and
// takes an empty one to go on with. It returns the first write error so far.
func (w *directWriter) flush() error {
	if w.io == nil {
		w.io = startDirectIO(w.f, len(w.buf))
	}
	if err := w.io.firstErr(); err != nil {
		return err
	}
	w.io.jobs <- directJob{w.buf[:w.n], w.at}
	w.at += int64(w.n)
	w.buf, w.n = w.io.nextBuf(len(w.buf)), 0
	return nil
}

// finish writes what is buffered: its aligned part directly (when O_DIRECT is in use
// already), the rest through f, once every earlier write has ended.
func (w *directWriter) finish() error {
	if w.io == nil {
		return w.writeTail(0)
	}
	k := w.n &^ (directAlign - 1)
	if k > 0 && w.io.firstErr() == nil {
		w.io.jobs <- directJob{w.buf[:k], w.at}
	}
	if err := w.io.end(); err != nil {
		return err
	}
	return w.writeTail(k)
}

// writeTail writes buf[k:n] through f at its offset.
func (w *directWriter) writeTail(k int) error {
	if w.n == k {
		return nil
	}
	if _, err := w.f.WriteAt(w.buf[k:w.n], w.at+int64(k)); err != nil {
		return err
	}
	w.at += int64(w.n)
	w.n = 0
	return nil
}

// close stops the I/O goroutines and releases the O_DIRECT handle (after a failure).
func (w *directWriter) close() {
	if w.io != nil {
		w.io.end()
	}
}

// startDirectIO opens the O_DIRECT handle and starts the I/O goroutines.
func startDirectIO(f *os.File, bufSize int) *directIO {
	dio := &directIO{f: f, d: openDirect(f.Name()), jobs: make(chan directJob, directBufs), free: make(chan []byte, directBufs), made: 1}
	if dio.d == nil {
		dio.off.Store(true)
	}
	dio.wg.Add(directWriters)
	for range directWriters {
		go dio.run(bufSize)
	}
	return dio
}

// nextBuf returns a written-out buffer, or a new one while fewer than directBufs exist.
func (dio *directIO) nextBuf(size int) []byte {
	select {
	case b := <-dio.free:
		return b[:size]
	default:
	}
	if dio.made < directBufs {
		dio.made++
		return alignedBuf(size)
	}
	return (<-dio.free)[:size]
}

// run is an I/O goroutine: it writes jobs until jobs is closed. After an error it only
// returns buffers, so the filling side never blocks.
func (dio *directIO) run(bufSize int) {
	defer dio.wg.Done()
	for j := range dio.jobs {
		if dio.firstErr() == nil {
			if err := dio.write(j); err != nil {
				dio.mu.Lock()
				if dio.err == nil {
					dio.err = err
				}
				dio.mu.Unlock()
			}
		}
		if cap(j.b) >= bufSize {
			dio.free <- j.b // never blocks: at most directBufs buffers exist
		}
	}
}

// write writes one job directly or, when the file system refuses that, through f.
func (dio *directIO) write(j directJob) error {
	if !dio.off.Load() {
		_, err := dio.d.WriteAt(j.b, j.at)
		if !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.EOPNOTSUPP) {
			return err
		}
		// The file system opens with O_DIRECT but refuses this write: go through
		// the page cache from here on, rewriting this block whole.
		dio.off.Store(true)
	}
	_, err := dio.f.WriteAt(j.b, j.at)
	return err
}

func (dio *directIO) firstErr() error {
	dio.mu.Lock()
	defer dio.mu.Unlock()
	return dio.err
}

// end waits for every write handed over, closes the O_DIRECT handle and returns the
// first error. Later calls return the same error.
func (dio *directIO) end() error {
	dio.mu.Lock()
	ended := dio.ended
	dio.ended = true
	dio.mu.Unlock()
	if !ended {
		close(dio.jobs)
		dio.wg.Wait()
		if dio.d != nil {
			if err := dio.d.Close(); err != nil {
				dio.mu.Lock()
				if dio.err == nil {
					dio.err = err
				}
				dio.mu.Unlock()
			}
		}
	}
	return dio.firstErr()
}
