package pipelog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// orgFile is the one writer of an org's log: lines are appended under mu, each with one
// write to a file opened O_APPEND, rotating to a new file when the UTC day changes.
type orgFile struct {
	dir string

	mu      sync.Mutex
	f       *os.File
	name    string // file name of f
	newFile bool   // f was created since the directory was last fsynced
	refs    int    // runs in progress; guarded by Log.mu
}

// append writes b (one line ending in '\n') to the file named name.
func (of *orgFile) append(name string, b []byte) error {
	of.mu.Lock()
	defer of.mu.Unlock()
	if of.f == nil || of.name != name {
		if err := of.rotate(name); err != nil {
			return err
		}
	}
	if _, err := of.f.Write(b); err != nil {
		return fmt.Errorf("pipelog: write %s: %w", of.f.Name(), err)
	}
	return nil
}

// rotate syncs and closes the current file and opens name for appending.
func (of *orgFile) rotate(name string) error {
	if of.f != nil {
		of.f.Sync()
		of.f.Close()
		of.f = nil
	}
	if err := os.MkdirAll(of.dir, 0o700); err != nil {
		return fmt.Errorf("pipelog: %w", err)
	}
	path := filepath.Join(of.dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	created := err == nil
	if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	}
	if err != nil {
		return fmt.Errorf("pipelog: %w", err)
	}
	if !created {
		if err := closeTornLine(f); err != nil {
			f.Close()
			return err
		}
	}
	of.f, of.name, of.newFile = f, name, of.newFile || created
	return nil
}

// closeTornLine appends a newline when the file does not end with one, so the next line
// starts on its own line.
func closeTornLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("pipelog: %w", err)
	}
	if st.Size() == 0 {
		return nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil {
		return fmt.Errorf("pipelog: %s: %w", f.Name(), err)
	}
	if last[0] != '\n' {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			return fmt.Errorf("pipelog: %s: %w", f.Name(), err)
		}
	}
	return nil
}

// sync makes what was appended durable: the file, and the directory when a file was created.
func (of *orgFile) sync() error {
	of.mu.Lock()
	defer of.mu.Unlock()
	if of.f == nil {
		return nil
	}
	if err := of.f.Sync(); err != nil {
		return fmt.Errorf("pipelog: fsync %s: %w", of.f.Name(), err)
	}
	if of.newFile { // the new file's entry, and logs/ itself when it is new too
		for _, d := range []string{of.dir, filepath.Dir(of.dir)} {
			if err := syncDir(d); err != nil {
				return err
			}
		}
		of.newFile = false
	}
	return nil
}

func (of *orgFile) close() error {
	of.mu.Lock()
	defer of.mu.Unlock()
	if of.f == nil {
		return nil
	}
	err := of.f.Close()
	of.f = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("pipelog: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("pipelog: fsync %s: %w", dir, err)
	}
	return nil
}
