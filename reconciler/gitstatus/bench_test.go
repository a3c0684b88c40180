package gitstatus

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// BenchmarkPublish measures one Publish against git daemon for 100 orgs: when nothing
// changed, next to the baseline of listing the remote's refs once (what any poll costs),
// and when one org changed, next to the git CLI committing and pushing one file.
func BenchmarkPublish(b *testing.B) {
	srv := newServer(b)
	ctx := ctxT(b)
	statuses := map[string]Status{}
	for i := range 100 {
		statuses[fmt.Sprintf("org-%03d", i)] = deployedStatus("1.0.0")
	}
	w := newWriter(b, srv.url, "pod-a")
	if _, _, err := w.Publish(ctx, statuses); err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-ls-remote", func(b *testing.B) {
		for b.Loop() {
			if _, err := w.remote.Head(ctx, DefaultBranch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-cli-commit-push", func(b *testing.B) {
		other := newServer(b)
		wc := gittest.Clone(b, other.url, filepath.Join(b.TempDir(), "wc"))
		n := 0
		for b.Loop() {
			n++
			wc.Write("status/org-042/pod-a.yaml", fmt.Sprintf("version: 2.0.%d\n", n))
			wc.Commit("one")
			wc.Push()
		}
	})
	b.Run("no-change", func(b *testing.B) {
		for b.Loop() {
			if _, changed, err := w.Publish(ctx, statuses); err != nil || changed {
				b.Fatal(changed, err)
			}
		}
	})
	b.Run("one-org-changed", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n++
			statuses["org-042"] = deployedStatus(fmt.Sprintf("2.0.%d", n))
			if _, changed, err := w.Publish(ctx, statuses); err != nil || !changed {
				b.Fatal(changed, err)
			}
		}
	})
}
