package registry

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ParseReference parses "host/repo:tag" or "host/repo@sha256:…" (no tag means "latest",
// no host means Docker Hub: go-containerregistry's rules). The reference is marked
// insecure (plain HTTP) only for loopback hosts and hosts named with WithInsecureRegistries.
//
// go-containerregistry also reports Scheme() "http" for RFC 1918 and *.localhost hosts; the
// Client's transport refuses plain HTTP to those (ErrInsecure) unless they are listed, so
// such a registry is reached over HTTPS or not at all.
func (c *Client) ParseReference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("parse reference %q: %w", s, err)
	}
	if c.plainHTTPAllowed(ref.Context().RegistryStr()) {
		if ref, err = name.ParseReference(s, name.Insecure); err != nil {
			return nil, fmt.Errorf("parse reference %q: %w", s, err)
		}
	}
	return ref, nil
}

// plainHTTPAllowed reports whether plain HTTP may be used for hostport.
func (c *Client) plainHTTPAllowed(hostport string) bool {
	hostport = normalizeHost(hostport)
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return true
	}
	return c.insecure[hostport] || c.insecure[host]
}

func normalizeHost(h string) string { return strings.ToLower(strings.TrimSpace(h)) }

func validInsecureHost(h string) error {
	switch {
	case h == "" || strings.TrimSpace(h) != h:
		return fmt.Errorf("registry: insecure registry %q: empty or padded host", h)
	case strings.Contains(h, "://") || strings.ContainsAny(h, "/ \t"):
		return fmt.Errorf("registry: insecure registry %q: want host or host:port, without scheme or path", h)
	}
	if _, err := name.NewRegistry(h); err != nil {
		return fmt.Errorf("registry: insecure registry %q: %w", h, err)
	}
	return nil
}

// httpGuard refuses any request that is not HTTPS, except plain HTTP to allowed hosts. It
// sits under authentication and retries, so it also covers pings, token realms and redirects.
type httpGuard struct {
	inner http.RoundTripper
	allow func(hostport string) bool
}

func (g *httpGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "https" || (r.URL.Scheme == "http" && g.allow(r.URL.Host)) {
		return g.inner.RoundTrip(r)
	}
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, fmt.Errorf("%w to %s (%s://); only loopback hosts and hosts listed as insecure registries (--insecure-registry) may use it",
		ErrInsecure, r.URL.Host, r.URL.Scheme)
}

// maxRedirects bounds redirect chains on blob and manifest fetches.
const maxRedirects = 10

// checkRedirect stops long redirect chains and redirects from a registry to a private,
// loopback or link-local IP literal on another host (SSRF); the guard handles downgrades.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errors.New("stopped after 10 redirects")
	}
	if len(via) == 0 {
		return nil
	}
	from, to := via[0].URL.Hostname(), req.URL.Hostname()
	if from == to {
		return nil
	}
	if ip, err := netip.ParseAddr(to); err == nil &&
		(ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()) {
		return fmt.Errorf("redirect from %s to private address %s refused", from, to)
	}
	return nil
}
