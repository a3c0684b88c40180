package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writeback of f's dirty pages in [off, off+n) and returns without
// waiting for it (sync_file_range with SYNC_FILE_RANGE_WRITE). It is a hint: errors are
// ignored, the fsync that follows reports them and is what makes the bytes durable.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
