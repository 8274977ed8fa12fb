package hostile

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// NetGuard records every attempt gate makes to reach the network or run a
// program:
//   - a loopback listener that accepts and records any connection; hostile
//     cases point their remote bases at it, and HTTP(S)_PROXY and ALL_PROXY
//     point at it so any other URL ends up there too;
//   - hooks on net.DefaultResolver and http.DefaultTransport that record
//     every DNS lookup and dial;
//   - fake git, helm, kustomize, ssh, curl, wget, docker and podman first
//     on PATH that record their arguments and fail.
//
// Install it before anything in the process makes an HTTP request: the
// standard library reads the proxy variables once.
type NetGuard struct {
	// Addr is the listener's host:port.
	Addr string
	// Bin is the directory of the fake programs.
	Bin string

	ln      net.Listener
	execLog string
	mu      sync.Mutex
	events  []string
}

// guardedPrograms are the programs kustomize, Helm and friends would run.
var guardedPrograms = []string{"git", "helm", "kustomize", "kubectl", "ssh", "curl", "wget", "docker", "podman", "sh", "bash"}

// InstallNetGuard starts the guard and changes process-wide state (the
// environment, the default resolver and transport) for the life of the
// process; call it once, from TestMain. dir holds the fake programs.
func InstallNetGuard(dir string) (*NetGuard, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("net guard listener: %w", err)
	}
	g := &NetGuard{Addr: ln.Addr().String(), ln: ln, Bin: filepath.Join(dir, "bin"), execLog: filepath.Join(dir, "exec.log")}
	go g.accept()
	if err := os.MkdirAll(g.Bin, 0o755); err != nil {
		return nil, err
	}
	for _, p := range guardedPrograms {
		// The shebang names the real shell, so faking sh itself works.
		script := fmt.Sprintf("#!/bin/sh\necho \"%s $*\" >> %q\nexit 97\n", p, g.execLog)
		if err := os.WriteFile(filepath.Join(g.Bin, p), []byte(script), 0o755); err != nil {
			return nil, err
		}
	}
	proxy := "http://" + g.Addr
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		os.Setenv(k, proxy)
	}
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		os.Unsetenv(k)
	}
	os.Setenv("PATH", g.Bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	// git, if anything still finds the real one, must not prompt or use
	// the user's config.
	os.Setenv("GIT_TERMINAL_PROMPT", "0")
	os.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	os.Setenv("HOME", dir)

	net.DefaultResolver.PreferGo = true
	net.DefaultResolver.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		g.record("dns %s %s", network, address)
		return nil, errors.New("hostile net guard: DNS refused")
	}
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
			if !isLoopback(address) {
				g.record("dial %s %s", network, address)
				return nil, errors.New("hostile net guard: dial refused")
			}
			return d.DialContext(ctx, network, address)
		}
	}
	return g, nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (g *NetGuard) accept() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.record("connection from %s", c.RemoteAddr())
		go func() {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			buf := make([]byte, 256)
			n, _ := c.Read(buf)
			g.record("  it sent %q", buf[:n])
		}()
	}
}

func (g *NetGuard) record(format string, args ...any) {
	g.mu.Lock()
	g.events = append(g.events, fmt.Sprintf(format, args...))
	g.mu.Unlock()
}

// Events returns, and forgets, everything recorded since the last call:
// connections, lookups, dials and programs run.
func (g *NetGuard) Events() []string {
	g.mu.Lock()
	out := g.events
	g.events = nil
	g.mu.Unlock()
	if b, err := os.ReadFile(g.execLog); err == nil && len(b) > 0 {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			out = append(out, "exec "+l)
		}
		_ = os.Remove(g.execLog)
	}
	return out
}

// Close stops the listener.
func (g *NetGuard) Close() error { return g.ln.Close() }
