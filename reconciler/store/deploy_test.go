package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPrepareThenPublish(t *testing.T) { bothModes(t, testPrepareThenPublish) }

// testPrepareThenPublish: a prepared deploy dir changes nothing a reader of deployed/
// sees until Publish; a discarded one and one left behind (a crash) are gone after the
// next deploy; Publish of a staged dir that vanished fails and changes nothing.
func testPrepareThenPublish(t *testing.T, s *Store) {
	ctx := t.Context()
	v1, v2 := randomBytes(70, 50<<10), randomBytes(71, 60<<10)
	mustPut(t, s, "acme", "v1", v1)
	mustPut(t, s, "acme", "v2", v2)
	mustDeploy(t, s, "v1")
	dir, _ := s.OrgDir("acme")
	deployed := func() string {
		t.Helper()
		var dep Deployment
		if err := readJSON(filepath.Join(dir, DeployedLink, DeploymentFile), &dep); err != nil {
			t.Fatal(err)
		}
		return dep.Version
	}
	prev, err := os.Readlink(filepath.Join(dir, DeployedLink))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.PrepareDeploy(ctx, "acme", "v2", "c0ffee")
	if err != nil {
		t.Fatal(err)
	}
	if got := deployed(); got != "v1" {
		t.Fatalf("after PrepareDeploy deployed/ holds %s, want v1 until Publish", got)
	}
	left, err := s.PrepareDeploy(ctx, "acme", "v2", "c0ffee") // as if Talon crashed here
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.PrepareDeploy(ctx, "acme", "v1", "c0ffee")
	if err != nil {
		t.Fatal(err)
	}
	gone.Discard()
	if err := st.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if got := deployed(); got != "v2" {
		t.Fatalf("after Publish deployed/ holds %s, want v2", got)
	}
	if b, _, _, err := s.Deployed("acme"); err != nil || string(b) != string(v2) {
		t.Fatalf("Deployed after Publish: %d bytes, %v", len(b), err)
	}
	want := []string{st.name, prev} // the staged dir left behind and the discarded one are gone
	if diff := cmp.Diff(want, deployDirs(t, dir)); diff != "" {
		t.Fatalf("deploy dirs after Publish (-want +got): %s", diff)
	}
	if err := left.Publish(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Publish of a pruned staged dir = %v, want ErrNotFound", err)
	}
	if got := deployed(); got != "v2" {
		t.Fatalf("a failed Publish changed deployed/ to %s", got)
	}
}

// deployDirs lists the deploy dirs in dir: the current one first, then the others sorted.
func deployDirs(t *testing.T, dir string) []string {
	t.Helper()
	cur, err := os.Readlink(filepath.Join(dir, DeployedLink))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{cur}
	for _, n := range dirNames(t, dir) {
		if strings.HasPrefix(n, ".deploy-") && n != cur {
			out = append(out, n)
		}
	}
	return out
}
