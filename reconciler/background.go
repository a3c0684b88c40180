package reconciler

import (
	"context"
	"errors"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/reconciler/store"
)

// The work of a run that overlaps its steps: the candidate's load (started by obtain once
// its bytes are verified), the outgoing version's backup and the candidate's deploy dir
// (both started once the candidate is stored). Each result is taken once by the step
// that needs it, or dropped when the run ends without it.

type backupResult struct {
	version string
	err     error
}

// startBackup keeps the outgoing version in backups/<org>/ while the candidate is loaded
// and validated (the backup may have to read the outgoing model whole to check it, which
// takes a while for a large model), so it is off the deploy path. deploy waits for it before the swap. It
// starts once the candidate is stored, not while it streams in: the pull uses both cores
// (hashing, encryption), the load mostly one, and a tag pushed again under the same
// version is then already replaced in models/ (the backup takes the deploy dir's copy).
func (r *Reconciler) startBackup(ctx context.Context, run *orgRun) {
	run.backup = make(chan backupResult, 1)
	go func() {
		v, err := r.store.Backup(ctx, run.org.Name)
		run.backup <- backupResult{v, err}
	}()
}

// waitBackup waits for the backup started for this run, once; later calls return the
// zero result.
func (run *orgRun) waitBackup() backupResult {
	if run.backup == nil {
		return backupResult{}
	}
	b := <-run.backup
	run.backup = nil
	return b
}

type loadResult struct {
	model *inference.Model
	err   error
}

// startLoad loads onnx into ONNX Runtime in the background (see loadModel); the result
// arrives on the returned channel.
func (r *Reconciler) startLoad(ctx context.Context, run *orgRun, onnx []byte) chan loadResult {
	ch := make(chan loadResult, 1)
	go func() {
		m, err := r.loadModel(ctx, run, onnx)
		ch <- loadResult{m, err}
	}()
	return ch
}

// dropPreload waits for a load obtain started that no step took, and closes its model.
func (run *orgRun) dropPreload() {
	if run.preload == nil {
		return
	}
	if res := <-run.preload; res.model != nil {
		res.model.Close()
	}
	run.preload = nil
}

var errNotStaged = errors.New("no deploy dir was prepared for this run")

type stagedResult struct {
	staged *store.StagedDeploy
	err    error
}

// startPrepare builds the candidate's deploy dir (store.PrepareDeploy) while it is loaded
// and validated; deploy publishes it, and a run that stops before deploy discards it.
func (r *Reconciler) startPrepare(ctx context.Context, run *orgRun) {
	run.staged = make(chan stagedResult, 1)
	go func() {
		st, err := r.store.PrepareDeploy(ctx, run.org.Name, run.rec.Version, run.commit, store.PlaintextDeploy(run.org.PlaintextDeploy))
		run.staged <- stagedResult{st, err}
	}()
}

// waitStaged waits for the deploy dir startPrepare builds, once; later calls return an
// error result.
func (run *orgRun) waitStaged() stagedResult {
	if run.staged == nil {
		return stagedResult{err: errNotStaged}
	}
	st := <-run.staged
	run.staged = nil
	return st
}

// dropStaged discards a deploy dir that was built but not taken by deploy.
func (run *orgRun) dropStaged() {
	if run.staged != nil {
		run.waitStaged().staged.Discard()
	}
}
