package registry_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
	"github.com/google/go-containerregistry/pkg/authn"
)

func TestParseReferenceScheme(t *testing.T) {
	tests := []struct {
		ref      string
		insecure []string
		want     string
	}{
		{"127.0.0.1:5000/acme/pdm:v1", nil, "http"},
		{"127.9.9.9:5000/acme/pdm:v1", nil, "http"},
		{"localhost:5000/acme/pdm:v1", nil, "http"},
		{"[::1]:5000/acme/pdm:v1", nil, "http"},
		{"registry.example.com/acme/pdm:v1", nil, "https"},
		{"registry.example.com:5000/acme/pdm:v1", nil, "https"},
		{"registry.example.com/acme/pdm:v1", []string{"registry.example.com"}, "http"},
		{"registry.example.com:5000/acme/pdm:v1", []string{"registry.example.com"}, "http"},
		{"registry.example.com:5000/acme/pdm:v1", []string{"registry.example.com:5000"}, "http"},
		{"registry.example.com:5001/acme/pdm:v1", []string{"registry.example.com:5000"}, "https"},
		{"other.example.com/acme/pdm:v1", []string{"registry.example.com"}, "https"},
	}
	for _, tc := range tests {
		var opts []registry.Option
		if tc.insecure != nil {
			opts = append(opts, registry.WithInsecureRegistries(tc.insecure...))
		}
		ref, err := newClient(t, opts...).ParseReference(tc.ref)
		if err != nil {
			t.Errorf("ParseReference(%s): %v", tc.ref, err)
			continue
		}
		if got := ref.Context().Scheme(); got != tc.want {
			t.Errorf("ParseReference(%s) with insecure %v: scheme %s, want %s", tc.ref, tc.insecure, got, tc.want)
		}
	}
}

// A real registry reached under a private (RFC 1918) address, which go-containerregistry
// would talk plain HTTP to: refused unless listed as insecure. The dialer routes every
// connection to the in-process registry, so the address is never really dialed.
func TestPlainHTTPRefusedForNonLoopbackHost(t *testing.T) {
	host := registrytest.Start(t)
	dir := t.TempDir()
	if _, err := newClient(t).Push(context.Background(), host+"/acme/pdm:v1", registry.PushInput{ModelPath: writeFile(t, dir, "m.onnx", []byte("onnx"))}); err != nil {
		t.Fatal(err)
	}
	rt := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, host)
	}}
	const private = "10.255.0.7:5000"
	newC := func(opts ...registry.Option) *registry.Client {
		c, err := registry.New(append(opts, registry.WithTransport(rt), registry.WithKeychain(authn.NewMultiKeychain()))...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := newC().Resolve(context.Background(), private+"/acme/pdm:v1"); !errors.Is(err, registry.ErrInsecure) {
		t.Errorf("Resolve over plain HTTP to %s without the insecure option: %v; want ErrInsecure", private, err)
	}
	c := newC(registry.WithInsecureRegistries("10.255.0.7"))
	d, err := c.Resolve(context.Background(), private+"/acme/pdm:v1")
	if err != nil {
		t.Fatalf("Resolve with %s listed as insecure: %v", private, err)
	}
	if _, err := c.Fetch(context.Background(), d); err != nil {
		t.Errorf("Fetch with %s listed as insecure: %v", private, err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := map[string][]registry.Option{
		"nil keychain":        {registry.WithKeychain(nil)},
		"nil transport":       {registry.WithTransport(nil)},
		"empty user agent":    {registry.WithUserAgent("")},
		"zero max size":       {registry.WithMaxModelSize(0)},
		"negative max size":   {registry.WithMaxModelSize(-1)},
		"no insecure host":    {registry.WithInsecureRegistries()},
		"insecure URL":        {registry.WithInsecureRegistries("http://reg.example.com")},
		"insecure with path":  {registry.WithInsecureRegistries("reg.example.com/acme")},
		"empty insecure host": {registry.WithInsecureRegistries("")},
		"user agent twice":    {registry.WithUserAgent("a"), registry.WithUserAgent("b")},
		"nil option":          {nil},
	}
	for name, opts := range tests {
		if _, err := registry.New(opts...); err == nil {
			t.Errorf("New with %s: no error", name)
		}
	}
	if _, err := registry.New(registry.WithUserAgent("talon/test"), registry.WithMaxModelSize(1<<20),
		registry.WithInsecureRegistries("reg.example.com:5000", "10.0.0.1")); err != nil {
		t.Errorf("New with valid options: %v", err)
	}
}
