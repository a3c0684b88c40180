//go:build unix

package gittest

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// daemonStartTimeout bounds how long StartDaemon waits for git daemon to accept connections.
const daemonStartTimeout = 15 * time.Second

// StartDaemon serves every repository under root with `git daemon` (export-all, pushes
// enabled) on a free loopback port and returns its base URL, "git://127.0.0.1:PORT"; a
// repository root/name.git is at baseURL+"/name.git". The daemon runs in its own process
// group, which t.Cleanup kills as a whole. StartDaemon returns once the port accepts
// connections.
func StartDaemon(t testing.TB, root string) string {
	t.Helper()
	var lastErr error
	for range 3 { // the free port can be taken between probing and binding; retry then
		url, err := startDaemon(t, root)
		if err == nil {
			return url
		}
		lastErr = err
	}
	t.Fatalf("start git daemon: %v", lastErr)
	return ""
}

func startDaemon(t testing.TB, root string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--base-path="+root, "--export-all",
		"--enable=receive-pack", "--listen=127.0.0.1", "--port="+strconv.Itoa(port), root)
	cmd.Env = Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr := &LockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the whole group: daemon and its children
		<-exited
	}

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(daemonStartTimeout)
	for {
		select {
		case <-exited:
			return "", fmt.Errorf("git daemon exited early: %s", stderr.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("git daemon not accepting on %s after %s: %v; stderr: %s",
				addr, daemonStartTimeout, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("git daemon stderr:\n%s", stderr.String())
		}
	})
	return "git://" + addr, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
