package store

import "os"

// writebackChunk is how many bytes writeback lets accumulate before it asks the kernel to
// start writing them out.
const writebackChunk = 8 << 20

// writeback writes to f and, after every writebackChunk bytes, asks the kernel to start
// writing those bytes to disk without waiting for it (startWriteback). Nothing is durable
// until f is fsynced: this only moves the disk's work from that fsync to the time the
// file is being written (a large plaintext deploy, a re-encryption), so the two overlap.
type writeback struct {
	f           *os.File
	off, synced int64
}

// Write implements io.Writer.
func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.synced >= writebackChunk {
		startWriteback(w.f, w.synced, w.off-w.synced)
		w.synced = w.off
	}
	return n, err
}

// finish implements fileWriter: writeback buffers nothing.
func (w *writeback) finish() error { return nil }

// close implements fileWriter: writeback holds nothing.
func (w *writeback) close() {}
