package cosign_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// benchSetup pushes and signs an artifact on an in-process registry.
func benchSetup(b *testing.B) (name.Digest, *cosign.Signer, *cosign.KeyVerifier) {
	return benchSetupOn(b, registrytest.Start(b), newClient(b))
}

// benchSetupOn pushes and signs an artifact on host through c.
func benchSetupOn(b *testing.B, host string, c *registry.Client) (name.Digest, *cosign.Signer, *cosign.KeyVerifier) {
	d := pushArtifact(b, c, host+"/bench/pdm:v1", modelV1)
	s := newSigner(b, "ci.key")
	if _, err := cosign.Sign(context.Background(), c, d, s); err != nil {
		b.Fatal(err)
	}
	return d, s, verifier(b, s)
}

// BenchmarkFetchVerify is the reconciler's verification step as it runs on each pull: a new
// registry session (ping), GET of the signature manifest by tag, GET of the payload, and
// the offline Verify. Compare with BenchmarkBaselineGETAndECDSA.
func BenchmarkFetchVerify(b *testing.B) {
	ctx := context.Background()
	d, _, v := benchSetup(b)
	c := newClient(b)
	for b.Loop() {
		set, err := cosign.Fetch(ctx, c, d)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cosign.Verify(set, d, v, cosign.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetcherVerify is BenchmarkFetchVerify through a Fetcher, which keeps the
// registry session: the two GETs and Verify.
func BenchmarkFetcherVerify(b *testing.B) {
	ctx := context.Background()
	d, _, v := benchSetup(b)
	f := cosign.NewFetcher(newClient(b))
	for b.Loop() {
		set, err := f.Fetch(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cosign.Verify(set, d, v, cosign.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineGETAndECDSA is the floor: one GET of the signature manifest with a plain,
// kept-alive HTTP client, and one ECDSA P-256 verification of the signature.
func BenchmarkBaselineGETAndECDSA(b *testing.B) {
	host := registrytest.Start(b)
	c := newClient(b)
	d, s, _ := benchSetupOn(b, host, c)
	baselineLoop(context.Background(), b, c, &http.Client{}, "http", d, s)
}

func baselineLoop(ctx context.Context, b *testing.B, c *registry.Client, client *http.Client, scheme string, d name.Digest, s *cosign.Signer) {
	set, err := cosign.Fetch(ctx, c, d)
	if err != nil {
		b.Fatal(err)
	}
	sig, payload := set.Signatures[0].Signature, set.Signatures[0].Payload
	pub := s.Public().Key().(*ecdsa.PublicKey)
	url := scheme + "://" + d.Context().RegistryStr() + "/v2/" + d.Context().RepositoryStr() + "/manifests/" + set.Tag.TagStr()
	for b.Loop() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status, err)
		}
		resp.Body.Close()
		sum := sha256.Sum256(payload)
		if !ecdsa.VerifyASN1(pub, sum[:], sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkOpenRepository is the session setup Fetch pays and a Fetcher saves: the registry
// ping (over loopback, an HTTPS probe that fails, then plain HTTP) and the auth challenge.
func BenchmarkOpenRepository(b *testing.B) {
	ctx := context.Background()
	d, _, _ := benchSetup(b)
	c := newClient(b)
	for b.Loop() {
		if _, err := c.OpenRepository(ctx, d.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// tlsRegistry serves go-containerregistry's registry over HTTPS on loopback, as production
// registries are reached (one ping, no plain-HTTP fallback), and returns a Client trusting it.
func tlsRegistry(b *testing.B) (string, *registry.Client, *http.Client) {
	srv := httptest.NewTLSServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.Cleanup(srv.Close)
	c, err := registry.New(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithTransport(srv.Client().Transport))
	if err != nil {
		b.Fatal(err)
	}
	return srv.Listener.Addr().String(), c, srv.Client()
}

// BenchmarkFetchVerifyTLS is BenchmarkFetchVerify (new session each time) over HTTPS.
func BenchmarkFetchVerifyTLS(b *testing.B) {
	ctx := context.Background()
	host, c, _ := tlsRegistry(b)
	d, _, v := benchSetupOn(b, host, c)
	for b.Loop() {
		set, err := cosign.Fetch(ctx, c, d)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cosign.Verify(set, d, v, cosign.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineGETAndECDSATLS is BenchmarkBaselineGETAndECDSA over HTTPS (kept alive).
func BenchmarkBaselineGETAndECDSATLS(b *testing.B) {
	ctx := context.Background()
	host, c, hc := tlsRegistry(b)
	d, s, _ := benchSetupOn(b, host, c)
	baselineLoop(ctx, b, c, hc, "https", d, s)
}
