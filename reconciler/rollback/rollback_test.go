package rollback

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRevertMatchesGit: for each history, Revert picks the commit a person would, and its
// commit has exactly the tree and message `git revert` makes of that commit.
func TestRevertMatchesGit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(r *repo) (want string) // returns the commit Revert must revert
	}{
		{"last bump, later unrelated and comment-only commits", func(r *repo) string {
			r.commit("acme and globex", map[string]string{"orgs/acme.yaml": org("acme", "v1", ""), "orgs/globex.yaml": org("globex", "g1", "")})
			bump := r.commit("acme: v2\n\nBody paragraph.", map[string]string{"orgs/acme.yaml": org("acme", "v2", ""), "NOTES.md": "acme v2\n"})
			r.commit("globex: g2", map[string]string{"orgs/globex.yaml": org("globex", "g2", "")})
			r.commit("acme: reword comment", map[string]string{"orgs/acme.yaml": strings.Replace(org("acme", "v2", ""), "# acme's model", "# ACME's model", 1)})
			return bump
		}},
		{"later edit elsewhere in the same file is kept", func(r *repo) string {
			r.commit("acme v1", map[string]string{"orgs/acme.yaml": org("acme", "v1", "suspend: false\n")})
			bump := r.commit(`acme: "v2" — faster`, map[string]string{"orgs/acme.yaml": org("acme", "v2", "suspend: false\n")})
			r.commit("acme retention", map[string]string{"orgs/acme.yaml": org("acme", "v2", "suspend: false\n"+retention)})
			return bump
		}},
		{"change brought by a merge", func(r *repo) string {
			r.commit("acme v1", map[string]string{"orgs/acme.yaml": org("acme", "v1", "")})
			r.wc.Git("checkout", "--quiet", "-b", "bump")
			r.wc.Write("orgs/acme.yaml", org("acme", "v2", ""))
			bump := r.wc.Commit("acme: v2 (PR)")
			r.wc.Git("checkout", "--quiet", "main")
			r.commit("globex", map[string]string{"orgs/globex.yaml": org("globex", "g1", "")})
			r.wc.Git("merge", "--quiet", "--no-ff", "-m", "Merge pull request #7 from bump", "bump")
			r.wc.Push()
			return bump
		}},
		{"semver and digest count as model changes", func(r *repo) string {
			r.commit("acme v1", map[string]string{"orgs/acme.yaml": org("acme", "v1", "")})
			pin := strings.Replace(org("acme", "v1", ""), "  version: v1\n", "  digest: sha256:"+strings.Repeat("a", 64)+"\n", 1)
			return r.commit("acme: pin digest", map[string]string{"orgs/acme.yaml": pin})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			want := tc.build(r)
			before := r.head()
			wantTree, wantMsgs, ok := r.cliRevert(want)
			if !ok {
				t.Fatalf("git revert %s failed; the scenario is wrong", want)
			}
			res, err := Revert(ctxT(t), r.url, nil, "main", "acme")
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Commits) != 1 || res.Commits[0].Reverts != want {
				t.Fatalf("Revert reverted %+v; want %s", res.Commits, want)
			}
			got := res.Commits[0].Hash
			if r.head() != got || r.git("rev-parse", got+"^") != before {
				t.Errorf("main = %s (parent %s); want %s on top of %s", r.head(), r.git("rev-parse", got+"^"), got, before)
			}
			if tree := r.git("rev-parse", got+"^{tree}"); tree != wantTree {
				t.Errorf("tree %s; git revert made %s\n%s", tree, wantTree, r.git("diff", wantTree, tree))
			}
			if diff := cmp.Diff(wantMsgs[0], r.message(got)); diff != "" {
				t.Errorf("message (-git +talon):\n%s", diff)
			}
			if res.Commits[0].Subject != strings.SplitN(wantMsgs[0], "\n", 2)[0] || res.Head != got || res.Attempts != 1 {
				t.Errorf("Result = %+v", res)
			}
			if got := r.git("log", "-1", "--format=%an <%ae>|%cn <%ce>", got); got != "Talon <talon@localhost>|Talon <talon@localhost>" {
				t.Errorf("identity = %q", got)
			}
		})
	}
}

// TestRevertTwiceGoesBackTwice: a rollback's revert and the commit it reverted are skipped,
// so a second rollback reverts the bump before, as `git revert` of that bump would.
func TestRevertTwiceGoesBackTwice(t *testing.T) {
	r := newRepo(t)
	r.commit("acme v1", map[string]string{"orgs/acme.yaml": org("acme", "v1", "")})
	v2 := r.commit("acme v2", map[string]string{"orgs/acme.yaml": org("acme", "v2", "")})
	v3 := r.commit("acme v3", map[string]string{"orgs/acme.yaml": org("acme", "v3", "")})
	first, err := Revert(ctxT(t), r.url, nil, "main", "acme")
	if err != nil || first.Commits[0].Reverts != v3 || first.From != "registry.example.com/acme/pdm:v3" || first.To != "registry.example.com/acme/pdm:v2" {
		t.Fatalf("first rollback = %+v, %v", first, err)
	}
	wantTree, wantMsgs, ok := r.cliRevert(v2)
	if !ok {
		t.Fatal("git revert of v2 failed")
	}
	second, err := Revert(ctxT(t), r.url, nil, "main", "acme")
	if err != nil || second.Commits[0].Reverts != v2 {
		t.Fatalf("second rollback = %+v, %v; want a revert of %s", second, err, v2)
	}
	if tree := r.git("rev-parse", second.Head+"^{tree}"); tree != wantTree || r.message(second.Head) != wantMsgs[0] {
		t.Errorf("second rollback differs from git revert %s", v2)
	}
	if got := r.git("show", "main:orgs/acme.yaml"); !strings.Contains(got, "version: v1") {
		t.Errorf("acme after two rollbacks:\n%s", got)
	}
	_, err = Revert(ctxT(t), r.url, nil, "main", "acme")
	if !errors.Is(err, ErrNothingToRevert) {
		t.Errorf("third rollback (only the creation is left) = %v; want ErrNothingToRevert", err)
	}
}
