package store

import (
	"os"
	"syscall"
)

// openDirect opens path for writing with O_DIRECT, or returns nil when the file system
// does not support it (tmpfs, say).
func openDirect(path string) *os.File {
	d, err := os.OpenFile(path, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return d
}
