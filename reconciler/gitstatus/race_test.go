package gitstatus

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPublishRebuildsLostRace: another replica pushes between this one's read of the
// branch and its push (both creating the branch); the loser rebuilds on the winner's
// commit, keeps the winner's file, and pushes once more.
func TestPublishRebuildsLostRace(t *testing.T) {
	srv := newServer(t)
	ctx := ctxT(t)
	b := newWriter(t, srv.url, "pod-b")
	var winner string
	var once sync.Once
	clk := &clock{t: t0}
	clk.on = func() {
		once.Do(func() {
			var err error
			if winner, _, err = b.Publish(ctx, map[string]Status{"acme": deployedStatus("2.0.0")}); err != nil {
				t.Errorf("pod-b Publish: %v", err)
			}
		})
	}
	a := newWriter(t, srv.url, "pod-a", WithClock(clk.now), WithRetry(3, time.Millisecond, 2*time.Millisecond))
	commit, changed, err := a.Publish(ctx, map[string]Status{"acme": deployedStatus("1.0.0")})
	if err != nil || !changed {
		t.Fatalf("pod-a Publish = %v, %v", changed, err)
	}
	if s := a.Stats(); s.Retries != 1 || s.MaxAttempts != 2 {
		t.Errorf("pod-a Stats = %+v; want 1 retry, 2 attempts", s)
	}
	if got := srv.git(t, "rev-list", "--parents", "-n1", DefaultBranch); got != commit+" "+winner {
		t.Errorf("head and parent = %q; want %s on top of pod-b's %s", got, commit, winner)
	}
	if got := srv.git(t, "ls-tree", "-r", "--name-only", DefaultBranch); got != "status/acme/pod-a.yaml\nstatus/acme/pod-b.yaml" {
		t.Errorf("files = %q", got)
	}
	if got := srv.git(t, "show", DefaultBranch+":status/acme/pod-b.yaml"); !strings.Contains(got, "version: 2.0.0") {
		t.Errorf("pod-b's file was changed by pod-a:\n%s", got)
	}
}

// TestConcurrentReplicas: six replicas, each with its own repository, publish five updates
// each at the same time to one git daemon. Every update lands exactly once, in order, on a
// linear history; no replica exhausts its retries.
func TestConcurrentReplicas(t *testing.T) {
	const replicas, updates, attempts = 6, 5, DefaultAttempts
	srv := newServer(t)
	ctx := ctxT(t)
	writers := make([]*Writer, replicas)
	for i := range writers {
		writers[i] = newWriter(t, srv.url, fmt.Sprintf("pod-%d", i))
	}
	commits := make([][]string, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for k := range updates {
				v := fmt.Sprintf("1.0.%d", k)
				c, changed, err := w.Publish(ctx, map[string]Status{"acme": deployedStatus(v), "globex": deployedStatus(v)})
				if err != nil || !changed {
					t.Errorf("pod-%d update %d: changed %v, %v", i, k, changed, err)
					return
				}
				commits[i] = append(commits[i], c)
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	if t.Failed() {
		return
	}

	history := strings.Fields(srv.git(t, "rev-list", DefaultBranch))
	onBranch := map[string]bool{}
	for _, c := range history {
		onBranch[c] = true
	}
	if len(history) != replicas*updates {
		t.Errorf("status branch has %d commits; want %d, one per update", len(history), replicas*updates)
	}
	if merges := srv.git(t, "rev-list", "--merges", DefaultBranch); merges != "" {
		t.Errorf("merge commits on the status branch: %s", merges)
	}
	if roots := strings.Fields(srv.git(t, "rev-list", "--max-parents=0", DefaultBranch)); len(roots) != 1 {
		t.Errorf("roots = %v; want one orphan start", roots)
	}
	totalRetries, maxAttempts := 0, 0
	for i, w := range writers {
		for k, c := range commits[i] {
			if !onBranch[c] {
				t.Errorf("pod-%d update %d: commit %s is not on the branch (lost)", i, k, c)
			}
		}
		for _, org := range []string{"acme", "globex"} {
			file := FilePath(org, fmt.Sprintf("pod-%d", i))
			var versions []string
			for _, c := range strings.Fields(srv.git(t, "log", "--reverse", "--format=%H", DefaultBranch, "--", file)) {
				_, _, st, err := Parse([]byte(srv.git(t, "show", c+":"+file)))
				if err != nil {
					t.Fatal(err)
				}
				versions = append(versions, st.Deployed.Version)
			}
			if want := "1.0.0 1.0.1 1.0.2 1.0.3 1.0.4"; strings.Join(versions, " ") != want {
				t.Errorf("%s went through %v; want %s", file, versions, want)
			}
		}
		s := w.Stats()
		if s.MaxAttempts > attempts || s.Commits != updates {
			t.Errorf("pod-%d Stats = %+v", i, s)
		}
		totalRetries += s.Retries
		maxAttempts = max(maxAttempts, s.MaxAttempts)
	}
	t.Logf("%d replicas × %d updates in %s: %d retries in all, at most %d attempts for one publish",
		replicas, updates, elapsed.Round(time.Millisecond), totalRetries, maxAttempts)
}
