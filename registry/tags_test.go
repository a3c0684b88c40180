package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// pageTags makes the registry answer tag lists in pages of n with a Link header, as
// distribution does (go-containerregistry's registry sends one page only). With loop, every
// page is the first one and links to another: a broken registry.
func pageTags(n int, loop bool) registrytest.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasSuffix(r.URL.Path, "/tags/list") {
				next.ServeHTTP(w, r)
				return
			}
			last := r.URL.Query().Get("last")
			r.URL.RawQuery = ""
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var body struct {
				Name string   `json:"name"`
				Tags []string `json:"tags"`
			}
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				return
			}
			sort.Strings(body.Tags)
			rest := body.Tags
			if last != "" && !loop {
				rest = rest[sort.SearchStrings(rest, last+"\x00"):]
			}
			if len(rest) > n {
				rest = rest[:n]
				w.Header().Set("Link", fmt.Sprintf(`<%s?n=%d&last=%s>; rel="next"`, r.URL.Path, n, rest[n-1]))
			}
			body.Tags = rest
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(body)
		})
	}
}

func pushTags(t *testing.T, repo string, tags ...string) {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		ref, err := name.ParseReference(repo+":"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
}

func TestListTags(t *testing.T) {
	tags := []string{"v1.0.0", "v1.2.0", "v2.0.0-rc.1", "latest", "sha256-" + strings.Repeat("a", 64) + ".sig", "v1.10.0", "v0.9.0"}
	for _, tc := range []struct {
		name string
		mw   []registrytest.Middleware
	}{
		{"one page", nil},
		{"pages of 3", []registrytest.Middleware{pageTags(3, false)}},
		{"pages of 1", []registrytest.Middleware{pageTags(1, false)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := registrytest.Start(t, tc.mw...)
			pushTags(t, host+"/acme/pdm", tags...)
			got, err := newClient(t).ListTags(context.Background(), host+"/acme/pdm")
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string(nil), tags...)
			sort.Strings(want)
			sort.Strings(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("tags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListTagsErrors(t *testing.T) {
	host := registrytest.Start(t)
	pushTags(t, host+"/acme/pdm", "v1")
	c := newClient(t)
	_, err := c.ListTags(context.Background(), host+"/nobody/here")
	if !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), "nobody/here") {
		t.Errorf("missing repository: %v, want ErrNotFound naming it", err)
	}
	for _, bad := range []string{host + "/acme/pdm:v1", "UPPER/case", ""} {
		if _, err := c.ListTags(context.Background(), bad); err == nil {
			t.Errorf("ListTags(%q) = nil error, want a parse error", bad)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ListTags(ctx, host+"/acme/pdm"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	// A registry whose pages never end (each links to the next, repeating the first)
	// is refused at its first repeat, not after MaxTags requests.
	loop := registrytest.Start(t, pageTags(2, true))
	pushTags(t, loop+"/acme/pdm", "v1", "v2", "v3")
	if _, err := c.ListTags(context.Background(), loop+"/acme/pdm"); err == nil || !strings.Contains(err.Error(), "repeat") {
		t.Errorf("looping registry: %v, want an error about repeated tags", err)
	}
}
