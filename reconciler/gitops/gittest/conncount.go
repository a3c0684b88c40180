package gittest

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ConnCounter is a TCP proxy on a loopback port in front of a git daemon that counts the
// connections it accepts. Over git:// each connection carries one service request, and the
// daemon starts every one by advertising the repository's refs: a ref listing and a fetch
// are one connection each, so the count tells how many round trips a client made.
type ConnCounter struct {
	// URL is the proxy's base URL, "git://127.0.0.1:PORT", to use in place of the
	// daemon's: root/name.git is at URL+"/name.git".
	URL string

	upstream string
	n        atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	open     map[net.Conn]struct{}
}

// CountConns starts a ConnCounter forwarding to the git daemon at daemonURL, a base URL as
// StartDaemon returns it. A connection is counted when it is accepted, before any byte
// reaches the daemon, so a client's call has been counted by the time it returns.
// t.Cleanup closes the proxy and every connection through it.
func CountConns(t testing.TB, daemonURL string) *ConnCounter {
	t.Helper()
	upstream, ok := strings.CutPrefix(daemonURL, "git://")
	if !ok {
		t.Fatalf("CountConns: %q is not a git:// URL", daemonURL)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("CountConns: %v", err)
	}
	c := &ConnCounter{URL: "git://" + l.Addr().String(), upstream: upstream, open: map[net.Conn]struct{}{}}
	c.wg.Go(func() { c.accept(l) })
	t.Cleanup(func() {
		_ = l.Close()
		c.mu.Lock()
		for conn := range c.open {
			_ = conn.Close()
		}
		c.open = nil
		c.mu.Unlock()
		c.wg.Wait()
	})
	return c
}

// Connections returns how many connections the proxy has accepted.
func (c *ConnCounter) Connections() int { return int(c.n.Load()) }

func (c *ConnCounter) accept(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return // closed by cleanup
		}
		c.n.Add(1)
		c.wg.Go(func() { c.forward(conn) })
	}
}

// forward copies bytes both ways between conn and a new connection to the daemon,
// passing on each side's half-close, until both directions have ended.
func (c *ConnCounter) forward(conn net.Conn) {
	up, err := net.DialTimeout("tcp", c.upstream, 10*time.Second)
	if err != nil {
		_ = conn.Close()
		return
	}
	if !c.track(conn, up) {
		return
	}
	defer c.untrack(conn, up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, conn)
	go pipe(conn, up)
	<-done
	<-done
}

// track registers conns for cleanup; it closes them and reports false when cleanup has
// already run.
func (c *ConnCounter) track(conns ...net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		for _, conn := range conns {
			_ = conn.Close()
		}
		return false
	}
	for _, conn := range conns {
		c.open[conn] = struct{}{}
	}
	return true
}

func (c *ConnCounter) untrack(conns ...net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range conns {
		_ = conn.Close()
		delete(c.open, conn)
	}
}
