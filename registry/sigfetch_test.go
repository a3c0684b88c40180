package registry_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// lieAboutDigest makes manifest GETs by tag answer with a wrong Docker-Content-Digest.
func lieAboutDigest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/lie") {
			w = &digestLiar{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

type digestLiar struct{ http.ResponseWriter }

func (l *digestLiar) WriteHeader(code int) {
	l.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("0", 64))
	l.ResponseWriter.WriteHeader(code)
}

// TestRepositorySession: reads by tag return the bytes and their own digest; missing tags,
// lying registries, oversized blobs and blob substitution are each refused by type.
func TestRepositorySession(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t, lieAboutDigest)
	c := newClient(t)
	payload := []byte(`{"hello":"signature"}`)
	cfg := blob{data: []byte(`{}`), mediaType: types.OCIConfigJSON}
	l := blob{data: payload, mediaType: "application/vnd.dev.cosign.simplesigning.v1+json"}
	d := putManifest(t, host+"/acme/pdm:sha256-abc.sig", v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}, cfg, l)
	putManifest(t, host+"/acme/pdm:lie", v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}, cfg, l)

	repo, err := c.OpenRepository(ctx, mustRepo(t, host+"/acme/pdm"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := repo.ReadTaggedManifest(ctx, "sha256-abc.sig")
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest.String() != d.DigestStr() || sha(m.Raw) != m.Digest || m.Tag.TagStr() != "sha256-abc.sig" {
		t.Fatalf("TaggedManifest = %+v, want digest %s", m, d.DigestStr())
	}
	got, err := repo.ReadBlob(ctx, sha(payload), int64(len(payload)), 1024)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("ReadBlob = %q, %v", got, err)
	}

	for _, tc := range []struct {
		name string
		do   func() error
		want error
	}{
		{"missing tag", func() error { _, err := repo.ReadTaggedManifest(ctx, "sha256-nope.sig"); return err }, registry.ErrNotFound},
		{"registry names another digest", func() error { _, err := repo.ReadTaggedManifest(ctx, "lie"); return err }, registry.ErrDigestMismatch},
		{"blob above the limit", func() error { _, err := repo.ReadBlob(ctx, sha(payload), int64(len(payload)), 4); return err }, registry.ErrTooLarge},
		{"blob of another digest", func() error {
			_, err := repo.ReadBlob(ctx, sha([]byte("other")), int64(len(payload)), 1024)
			return err
		}, registry.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRepositorySessionServedWrongBytes: a blob served with other bytes fails the read.
func TestRepositorySessionServedWrongBytes(t *testing.T) {
	ctx := context.Background()
	payload := []byte(`{"hello":"signature"}`)
	host := registrytest.Start(t, registrytest.ReplaceBlob(sha(payload), []byte(`{"hello":"forgery!!"}`)))
	cfg := blob{data: []byte(`{}`), mediaType: types.OCIConfigJSON}
	putManifest(t, host+"/acme/pdm:sig", v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}, cfg,
		blob{data: payload, mediaType: "application/octet-stream"})
	repo, err := newClient(t).OpenRepository(ctx, mustRepo(t, host+"/acme/pdm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.ReadBlob(ctx, sha(payload), int64(len(payload)), 1024); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("ReadBlob of substituted bytes: %v, want ErrDigestMismatch", err)
	}
}

func mustRepo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
