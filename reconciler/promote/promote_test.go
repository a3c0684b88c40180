package promote

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
)

const acmeV1 = `# acme's production model
org: acme
model:
  repository: registry.example/acme/pdm
  version: 1.4.2   # bumped by CI
cicd:
  autoPromote: {semver: ">=1.4 <2", to: review}
`

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// world is a config repository served by git daemon with acme's file on main.
type world struct {
	bare, url string
	wc        *gittest.WorkClone
}

func newWorld(t *testing.T) *world {
	root := t.TempDir()
	bare := gittest.NewBareRepo(t, root, "config")
	url := gittest.StartDaemon(t, root) + "/config.git"
	wc := gittest.Clone(t, url, filepath.Join(t.TempDir(), "wc"))
	wc.Write("orgs/acme.yaml", acmeV1)
	wc.Write("README.md", "config\n")
	wc.Commit("acme: 1.4.2")
	wc.Push()
	return &world{bare: bare, url: url, wc: wc}
}

func (w *world) git(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(gittest.Git(t, w.bare, args...))
}

// request promotes acme to tag, an artifact whose (made-up) digest is the tag's sha256.
func request(branch, tag string) Request {
	return Request{Org: "acme", File: "orgs/acme.yaml", Tag: tag, Digest: fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(tag))),
		Range: ">=1.4 <2", Signer: "SHA256:fingerprint", Branch: branch}
}

// TestPromoteDirect: the commit lands on the tracked branch, changes only the version in
// the org file (comments kept), says what and why, and a second promotion to the same tag
// changes nothing.
func TestPromoteDirect(t *testing.T) {
	w := newWorld(t)
	before := w.git(t, "rev-parse", "main")
	p := Promoter{URL: w.url, Tracked: "main"}
	res, err := p.Promote(ctxT(t), request("main", "1.4.3"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit == "" || res.Commit != w.git(t, "rev-parse", "main") {
		t.Fatalf("Promote = %+v; main is at %s", res, w.git(t, "rev-parse", "main"))
	}
	if parent := w.git(t, "rev-parse", "main^"); parent != before {
		t.Errorf("promotion's parent = %s; want the previous head %s", parent, before)
	}
	want := strings.Replace(acmeV1, "version: 1.4.2 ", "version: 1.4.3 ", 1)
	if got := gittest.Git(t, w.bare, "show", "main:orgs/acme.yaml"); strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("org file after promotion:\n%s\nwant:\n%s", got, want)
	}
	if files := w.git(t, "diff", "--name-only", before, "main"); files != "orgs/acme.yaml" {
		t.Errorf("files changed = %q; want only orgs/acme.yaml", files)
	}
	msg := w.git(t, "log", "-1", "--format=%B", "main")
	for _, s := range []string{"acme: promote 1.4.3 (" + request("main", "1.4.3").Digest[:len("sha256:")+12] + ")", `matching ">=1.4 <2"`, "Signed-by: SHA256:fingerprint"} {
		if !strings.Contains(msg, s) {
			t.Errorf("commit message lacks %q:\n%s", s, msg)
		}
	}
	again, err := p.Promote(ctxT(t), request("main", "1.4.3"))
	if err != nil || again.Commit != "" {
		t.Errorf("second promotion to 1.4.3 = %+v, %v; want no commit", again, err)
	}
	if head := w.git(t, "rev-parse", "main"); head != res.Commit {
		t.Errorf("main moved to %s after a promotion that had nothing to do", head)
	}
}

// TestPromoteReview: a review branch is created from main's head and main is untouched;
// a later tag lands on top of the review branch (an open pull request is updated).
func TestPromoteReview(t *testing.T) {
	w := newWorld(t)
	main := w.git(t, "rev-parse", "main")
	p := Promoter{URL: w.url, Tracked: "main", Dir: filepath.Join(t.TempDir(), "promote.git")}
	first, err := p.Promote(ctxT(t), request("talon/promote/acme", "1.4.3"))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.git(t, "rev-parse", "main"); got != main {
		t.Fatalf("main moved to %s; a review promotion must not touch it", got)
	}
	if parent := w.git(t, "rev-parse", "talon/promote/acme^"); parent != main {
		t.Errorf("review branch starts at %s; want main's head %s", parent, main)
	}
	second, err := p.Promote(ctxT(t), request("talon/promote/acme", "1.5.0"))
	if err != nil {
		t.Fatal(err)
	}
	if parent := w.git(t, "rev-parse", "talon/promote/acme^"); parent != first.Commit {
		t.Errorf("second promotion's parent = %s; want the first promotion %s", parent, first.Commit)
	}
	if second.Commit != w.git(t, "rev-parse", "talon/promote/acme") {
		t.Errorf("review branch is not at the second promotion %s", second.Commit)
	}
	if got := gittest.Git(t, w.bare, "show", "talon/promote/acme:orgs/acme.yaml"); !strings.Contains(got, "version: 1.5.0   # bumped by CI") {
		t.Errorf("org file on the review branch:\n%s", got)
	}
}

// TestPromoteRace: replicas promoting the same tag at once make exactly one commit (the
// ones that lose the push race rebuild on the new head and find nothing to do), on top of
// what a person pushed before.
func TestPromoteRace(t *testing.T) {
	w := newWorld(t)
	base := w.git(t, "rev-parse", "main")
	w.wc.Write("README.md", "config repo\n")
	w.wc.Commit("readme")
	w.wc.Push()
	var wg sync.WaitGroup
	results := make([]Result, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Go(func() {
			// Distinct authors, as replicas have: their commits differ, so all but one
			// lose the push race, rebuild and find the tag already promoted.
			p := Promoter{URL: w.url, Tracked: "main", AuthorName: fmt.Sprintf("Talon r%d", i), AuthorEmail: "talon@r.invalid",
				Attempts: 20, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
			results[i], errs[i] = p.Promote(ctxT(t), request("main", "1.4.3"))
		})
	}
	wg.Wait()
	commits := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		if results[i].Commit != "" {
			commits++
		}
	}
	if commits != 1 {
		t.Errorf("%d replicas committed; want exactly one promotion (%+v)", commits, results)
	}
	log := w.git(t, "log", "--format=%s", base+"..main")
	if n := strings.Count(log, "acme: promote 1.4.3"); n != 1 || !strings.Contains(log, "readme") {
		t.Errorf("main since the start:\n%s\nwant one promotion and the person's commit", log)
	}
	if got := gittest.Git(t, w.bare, "show", "main:README.md"); strings.TrimSpace(got) != "config repo" {
		t.Errorf("the person's change was lost: README.md = %q", got)
	}
}

// TestPromoteRefuses: a file pinned by semver, a missing org file and a bad tag push
// nothing.
func TestPromoteRefuses(t *testing.T) {
	w := newWorld(t)
	w.wc.Write("orgs/globex.yaml", "org: globex\nmodel:\n  repository: registry.example/globex/pdm\n  semver: \">=1 <2\"\n")
	w.wc.Commit("globex")
	w.wc.Push()
	head := w.git(t, "rev-parse", "main")
	p := Promoter{URL: w.url, Tracked: "main"}
	for name, req := range map[string]Request{
		"semver pin":   {Org: "globex", File: "orgs/globex.yaml", Tag: "1.2.0", Branch: "main"},
		"missing file": {Org: "initech", File: "orgs/initech.yaml", Tag: "1.2.0", Branch: "main"},
		"bad tag":      request("main", "../1.4.3"),
		"bad org":      {Org: "../acme", File: "orgs/acme.yaml", Tag: "1.4.3", Branch: "main"},
		"bad branch":   request("main..x", "1.4.3"),
	} {
		if res, err := p.Promote(ctxT(t), req); err == nil || res.Commit != "" {
			t.Errorf("%s: Promote = %+v, %v; want an error and no commit", name, res, err)
		}
	}
	if got := w.git(t, "rev-parse", "main"); got != head {
		t.Errorf("main moved to %s after refused promotions", got)
	}
	if _, err := (Promoter{URL: w.url, Tracked: "main"}).Promote(ctxT(t), request("main", "1.4.3")); errors.Is(err, ErrRetriesExhausted) {
		t.Errorf("an uncontended promotion ran out of retries: %v", err)
	}
}

// TestPromoteNotAgainAfterRevert: once a promotion was reverted on the tracked branch, no
// replica promotes that artifact again, even one with no record of its own (a new pod):
// the promotion commit in the history says it was done. The same tag pushed again as
// another artifact (another digest) is promoted.
func TestPromoteNotAgainAfterRevert(t *testing.T) {
	w := newWorld(t)
	first, err := (Promoter{URL: w.url, Tracked: "main"}).Promote(ctxT(t), request("main", "1.4.3"))
	if err != nil || first.Commit == "" {
		t.Fatalf("first promotion = %+v, %v", first, err)
	}
	w.wc.Git("pull", "--quiet", "--ff-only")
	revert := w.wc.Revert(first.Commit)
	w.wc.Push()

	fresh := Promoter{URL: w.url, Tracked: "main", Dir: filepath.Join(t.TempDir(), "new-pod.git")}
	again, err := fresh.Promote(ctxT(t), request("main", "1.4.3"))
	if err != nil || again.Commit != "" {
		t.Fatalf("promotion after the revert = %+v, %v; want no commit", again, err)
	}
	if h := w.git(t, "rev-parse", "main"); h != revert {
		t.Fatalf("main moved to %s after the revert %s", h, revert)
	}
	rebuilt := request("main", "1.4.3")
	rebuilt.Digest = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("1.4.3 rebuilt")))
	if res, err := fresh.Promote(ctxT(t), rebuilt); err != nil || res.Commit == "" {
		t.Errorf("promotion of another artifact under the same tag = %+v, %v; want a commit", res, err)
	}
}
