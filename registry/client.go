// Package registry is Talon's OCI side: it parses references, resolves a tag to a digest
// once, fetches a model artifact (CNCF ModelPack v1, or a plain ORAS push of one .onnx file)
// by that digest, streams its layers with size-bounded digest verification, and builds and
// pushes ModelPack artifacts. It logs nothing; every error wraps one of the sentinels in
// errors.go.
//
// The flow is Resolve (tag → digest, exactly once), then anything that must vouch for that
// digest (signature verification, a later issue), then Fetch and Open* — which only ever
// address content by digest.
package registry

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

const (
	// DefaultMaxModelSize is the largest model or dataset layer Fetch accepts: 4 GiB.
	DefaultMaxModelSize int64 = 4 << 30
	// MaxManifestSize is the largest manifest Fetch reads: 4 MiB.
	MaxManifestSize = 4 << 20
	// MaxConfigSize is the largest ModelPack config blob Fetch reads: 1 MiB.
	MaxConfigSize = 1 << 20
	// MaxMetadataSize is the largest Talon metadata layer Fetch and Build accept: 1 MiB.
	MaxMetadataSize = 1 << 20
)

// Client talks to OCI registries. It is safe for concurrent use. Build one with New.
type Client struct {
	keychain     authn.Keychain
	base         http.RoundTripper // user transport behind the plain-HTTP guard
	rt           http.RoundTripper // base + retries + user agent, for requests made here
	userAgent    string
	insecure     map[string]bool
	maxModelSize int64
}

// Option configures a Client. Each option may be given at most once.
type Option func(*settings) error

type settings struct {
	keychain     authn.Keychain
	transport    http.RoundTripper
	userAgent    string
	insecure     []string
	maxModelSize int64
	seen         map[string]bool
}

func (s *settings) once(opt string) error {
	if s.seen[opt] {
		return fmt.Errorf("registry: option %s given twice", opt)
	}
	s.seen[opt] = true
	return nil
}

// WithInsecureRegistries allows plain HTTP to the named registry hosts ("host" for any port,
// or "host:port"). Loopback hosts (localhost, 127.0.0.0/8, ::1) are always allowed; every
// other host must speak HTTPS. The default is no extra host.
func WithInsecureRegistries(hosts ...string) Option {
	return func(s *settings) error {
		if err := s.once("WithInsecureRegistries"); err != nil {
			return err
		}
		if len(hosts) == 0 {
			return errors.New("registry: WithInsecureRegistries needs at least one host")
		}
		for _, h := range hosts {
			if err := validInsecureHost(h); err != nil {
				return err
			}
		}
		s.insecure = append(s.insecure, hosts...)
		return nil
	}
}

// WithKeychain sets where registry credentials come from. The default is
// authn.DefaultKeychain (Docker config file and credential helpers).
func WithKeychain(kc authn.Keychain) Option {
	return func(s *settings) error {
		if err := s.once("WithKeychain"); err != nil {
			return err
		}
		if kc == nil {
			return errors.New("registry: WithKeychain(nil)")
		}
		s.keychain = kc
		return nil
	}
}

// WithTransport sets the HTTP transport under authentication, retries and the plain-HTTP
// guard. The default is remote.DefaultTransport. A transport.Wrapper (which would skip
// those layers) is refused.
func WithTransport(rt http.RoundTripper) Option {
	return func(s *settings) error {
		if err := s.once("WithTransport"); err != nil {
			return err
		}
		if rt == nil {
			return errors.New("registry: WithTransport(nil)")
		}
		if _, ok := rt.(*transport.Wrapper); ok {
			return errors.New("registry: WithTransport: a transport.Wrapper would bypass the plain-HTTP guard")
		}
		s.transport = rt
		return nil
	}
}

// WithUserAgent sets the User-Agent prefix sent to registries. The default is
// go-containerregistry's.
func WithUserAgent(ua string) Option {
	return func(s *settings) error {
		if err := s.once("WithUserAgent"); err != nil {
			return err
		}
		if ua == "" {
			return errors.New("registry: WithUserAgent(\"\")")
		}
		s.userAgent = ua
		return nil
	}
}

// WithMaxModelSize sets the largest model or dataset layer Fetch accepts; larger layers are
// refused before any byte is downloaded. The default is DefaultMaxModelSize (4 GiB).
func WithMaxModelSize(n int64) Option {
	return func(s *settings) error {
		if err := s.once("WithMaxModelSize"); err != nil {
			return err
		}
		if n <= 0 {
			return fmt.Errorf("registry: WithMaxModelSize(%d): must be positive", n)
		}
		s.maxModelSize = n
		return nil
	}
}

// New returns a Client. Invalid, empty or repeated options are errors.
func New(opts ...Option) (*Client, error) {
	s := &settings{
		keychain:     authn.DefaultKeychain,
		transport:    remote.DefaultTransport,
		maxModelSize: DefaultMaxModelSize,
		seen:         map[string]bool{},
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("registry: nil Option")
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	c := &Client{
		keychain:     s.keychain,
		userAgent:    s.userAgent,
		insecure:     map[string]bool{},
		maxModelSize: s.maxModelSize,
	}
	for _, h := range s.insecure {
		c.insecure[normalizeHost(h)] = true
	}
	c.base = &httpGuard{inner: s.transport, allow: c.plainHTTPAllowed}
	c.rt = transport.NewUserAgent(transport.NewRetry(c.base), c.userAgent)
	return c, nil
}
