package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockFile is the per-org lock file in models/<org>/.
const lockFile = ".lock"

// lockPoll is how often a blocked lockOrg tries again.
const lockPoll = 20 * time.Millisecond

// lockOrg takes the flock of the org directory dir: shared for Put, Deploy and Quarantine
// (they may run together across orgs and processes), exclusive for Rekey. It waits until
// the lock is free or ctx is done. The returned func releases it.
func lockOrg(ctx context.Context, dir string, exclusive bool) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the lock on %s (a key rotation?): %w", dir, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
