package gitwrite

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// TestCancelledLocalPushEnds: a push to a local repository (go-git runs git-receive-pack)
// whose context ends mid-stream, as at shutdown, still returns, and leaves the remote
// whole. go-git kills the receiving process on cancellation and then waits for pipes its
// child (unpack-objects) keeps open: without gitops.TransportContext that wait never ends.
func TestCancelledLocalPushEnds(t *testing.T) {
	bare := gittest.NewBareRepo(t, t.TempDir(), "config")
	r, err := Open("", bare, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 48<<20) // incompressible: the pack takes a while to stream
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	blob, err := r.WriteBlob(big)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := r.EditTree(plumbing.ZeroHash, []Change{{Path: "big", Hash: blob}})
	if err != nil {
		t.Fatal(err)
	}
	commit, err := r.WriteCommit(&object.Commit{Author: sig(), Committer: sig(), Message: "big\n", TreeHash: tree})
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{5 * time.Millisecond, 30 * time.Millisecond} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(after, cancel)
		done := make(chan error, 1)
		go func() { done <- r.Push(ctx, "talon-status", plumbing.ZeroHash, commit) }()
		select {
		case err := <-done:
			t.Logf("push cancelled after %v: %v", after, err)
		case <-time.After(2 * time.Minute): // only a bound against the hang this test is about
			t.Fatalf("a push cancelled after %v never returned", after)
		}
		cancel()
	}
	if out, err := exec.Command("git", "-C", bare, "fsck", "--no-progress").CombinedOutput(); err != nil {
		t.Fatalf("git fsck of the remote: %v\n%s", err, out)
	}
}
