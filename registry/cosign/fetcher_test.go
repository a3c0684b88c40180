package cosign_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/eaglenotifier/talon/registry/cosign"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// TestFetcherKeepsSessions: a Fetcher pings the registry once per repository, keeps the
// session across digests and across "unsigned" answers, and reconnects after a failure.
func TestFetcherKeepsSessions(t *testing.T) {
	ctx := context.Background()
	var pings atomic.Int32
	var failSig atomic.Bool
	host := registrytest.Start(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				pings.Add(1)
			}
			if failSig.Load() && strings.HasSuffix(r.URL.Path, ".sig") {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	c := newClient(t)
	s := newSigner(t, "ci.key")
	d1 := pushArtifact(t, c, host+"/acme/pdm:v1", modelV1)
	d2 := pushArtifact(t, c, host+"/acme/pdm:v2", modelV2)
	if _, err := cosign.Sign(ctx, c, d1, s); err != nil {
		t.Fatal(err)
	}
	f := cosign.NewFetcher(c)
	pings.Store(0)
	steps := []struct {
		name      string
		fail      bool
		want      error
		wantPings int32
	}{
		{"first fetch opens a session", false, nil, 1},
		{"unsigned digest, same session", false, cosign.ErrUnsigned, 1},
		{"again, same session", false, nil, 1},
		{"registry fails", true, nil, 1},
		{"after a failure, a new session", false, nil, 2},
	}
	for _, st := range steps {
		failSig.Store(st.fail)
		d := d1
		if st.want == cosign.ErrUnsigned {
			d = d2
		}
		set, err := f.Fetch(ctx, d)
		switch {
		case st.fail && err == nil:
			t.Fatalf("%s: no error", st.name)
		case !st.fail && !errors.Is(err, st.want):
			t.Fatalf("%s: %v, want %v", st.name, err, st.want)
		case err == nil:
			if _, err := cosign.Verify(set, d, verifier(t, s), cosign.Options{}); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		if got := pings.Load(); got != st.wantPings {
			t.Fatalf("%s: %d pings so far, want %d", st.name, got, st.wantPings)
		}
	}
}
