package rollback

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

// bumps makes a repository whose acme went through n+1 versions and returns the bump
// commits, oldest first.
func bumps(b *testing.B, n int) (*repo, []string) {
	r := newRepo(b)
	r.commit("acme v0", map[string]string{"orgs/acme.yaml": org("acme", "v0", ""), "orgs/globex.yaml": org("globex", "g", "")})
	var shas []string
	for i := 1; i <= n; i++ {
		r.wc.Write("orgs/acme.yaml", org("acme", fmt.Sprintf("v%d", i), ""))
		shas = append(shas, r.wc.Commit(fmt.Sprintf("acme v%d", i)))
	}
	r.wc.Push()
	return r, shas
}

// BenchmarkRevert measures one `talon rollback` (fetch the branch into memory, choose the
// commit, revert, push) against git daemon, next to the git CLI doing the same by hand:
// clone, git revert --no-edit, push.
func BenchmarkRevert(b *testing.B) {
	b.Run("baseline-cli-clone-revert-push", func(b *testing.B) {
		r, shas := bumps(b, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			dir := filepath.Join(b.TempDir(), "c")
			wc := gittest.Clone(b, r.url, dir)
			wc.Revert(shas[len(shas)-1-i])
			wc.Push()
		}
	})
	b.Run("talon", func(b *testing.B) {
		r, shas := bumps(b, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := Revert(ctxT(b), r.url, nil, "main", "acme")
			if err != nil || res.Commits[0].Reverts != shas[len(shas)-1-i] {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})
}
