// Package kubetest runs a real kube-apiserver and etcd on loopback for
// gate's live-cluster integration tests. The binaries are built from Go
// modules by `make kube-bins` (internal/testing/kubetest/build) into the user cache (gate/kube-bin); the
// location comes from GATE_KUBE_BIN. Nothing here is a fake: tests talk to
// the same API server code a production cluster runs.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// EnvBin names the environment variable holding the directory with the
// kube-apiserver and etcd binaries.
const EnvBin = "GATE_KUBE_BIN"

// AdminUser is the user the admin token authenticates as (system:masters).
const AdminUser = "gate-test-admin"

// ReaderUser is a token user with no permissions of its own, the identity
// internal/cluster/rbac.yaml binds its read-only ClusterRole to; tests
// apply that file and check gate works with exactly that access.
const ReaderUser = "gate"

// Server is a running etcd and kube-apiserver pair.
type Server struct {
	// Config reaches the API server as AdminUser.
	Config *rest.Config
	// URL is the API server's https address on loopback.
	URL string
	// Dir holds the data, certificates, token file and logs.
	Dir string

	tokens map[string]string // user -> token
	caData []byte
	procs  []*proc
	once   sync.Once
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// Options tune Start.
type Options struct {
	// BinDir holds kube-apiserver and etcd; default from BinDir().
	BinDir string
	// Users are extra token users to create (name -> groups); tests use
	// them to check RBAC through Server.ConfigFor.
	Users map[string][]string
	// ReadyTimeout bounds the wait for /readyz; default 60s.
	ReadyTimeout time.Duration
}

// BinDir returns the directory with the binaries: $GATE_KUBE_BIN, else the
// cache `make kube-bins` fills ($XDG_CACHE_HOME or ~/.cache, then gate/kube-bin),
// shared by every clone on the machine.
func BinDir() string {
	if d := os.Getenv(EnvBin); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(cache, "gate", "kube-bin")
}

// Available reports whether both binaries exist in dir, and if not why.
func Available(dir string) error {
	if dir == "" {
		return fmt.Errorf("no binary directory: set %s or run `make kube-bins`", EnvBin)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		st, err := os.Stat(filepath.Join(dir, b))
		if err != nil {
			return fmt.Errorf("%s not built in %s: run `make kube-bins` (%w)", b, dir, err)
		}
		if st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s in %s is not executable", b, dir)
		}
	}
	return nil
}

// Required reports whether the live-cluster tests must run, and why:
// when GATE_KUBE_BIN is set (`make test` and so CI always set it: whoever
// sets it expects the binaries there) or when CI says this is a CI run.
// Only a plain `go test` on a developer machine without the binaries may
// skip them.
func Required() (string, bool) {
	if d := os.Getenv(EnvBin); d != "" {
		return EnvBin + "=" + d + " is set", true
	}
	switch ci := os.Getenv("CI"); ci {
	case "", "0", "false", "no":
	default:
		return "CI=" + ci, true
	}
	return "", false
}

// StartTB starts a server for a test (or TestMain through a testing.TB),
// stopped by Cleanup. Without the binaries the test FAILS when Required
// (GATE_KUBE_BIN set, or CI): the live tests never silently disappear from
// CI. Only outside both is it skipped, with the reason.
func StartTB(tb testing.TB) *Server {
	tb.Helper()
	dir := BinDir()
	if err := Available(dir); err != nil {
		if why, must := Required(); must {
			tb.Fatalf("live-cluster tests need a real API server (%s): %v", why, err)
		}
		tb.Skipf("live-cluster tests skipped (no %s, not CI): %v", EnvBin, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, tb.TempDir(), Options{BinDir: dir})
	if err != nil {
		tb.Fatalf("start kube-apiserver: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Logf("stop kube-apiserver: %v", err)
		}
	})
	return s
}

// Main runs a test package against one shared server, for TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m, &server)) }
//
// Without the binaries it fails the package when Required; elsewhere it
// leaves *srv nil and the tests skip through Need.
func Main(m *testing.M, srv **Server) int {
	dir := BinDir()
	if err := Available(dir); err != nil {
		if why, must := Required(); must {
			fmt.Fprintf(os.Stderr, "FAIL: live-cluster tests need a real API server (%s): %v\n", why, err)
			return 1
		}
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "gate-kube-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	s, err := Start(ctx, tmp, Options{BinDir: dir})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start kube-apiserver: %v\n", err)
		return 1
	}
	*srv = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop kube-apiserver: %v\n", err)
	}
	return code
}

// Need skips a test when Main found no binaries and they are not Required
// (when they are, Main has already failed the package).
func Need(tb testing.TB, s *Server) *Server {
	tb.Helper()
	if s == nil {
		tb.Skipf("live-cluster tests skipped (no %s, not CI): %v", EnvBin, Available(BinDir()))
	}
	return s
}

// Start launches etcd and kube-apiserver on free loopback ports with their
// state under dir and waits until the API server reports ready.
func Start(ctx context.Context, dir string, opts Options) (s *Server, err error) {
	if opts.BinDir == "" {
		opts.BinDir = BinDir()
	}
	if err := Available(opts.BinDir); err != nil {
		return nil, err
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	s = &Server{Dir: dir, tokens: map[string]string{}}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w%s", err, s.logTail())
			_ = s.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdClient := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	etcdPeer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	if err := s.start(opts.BinDir, "etcd",
		"--name", "gate-test",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdClient,
		"--advertise-client-urls", etcdClient,
		"--listen-peer-urls", etcdPeer,
		"--initial-advertise-peer-urls", etcdPeer,
		"--initial-cluster", "gate-test="+etcdPeer,
		"--listen-metrics-urls", "",
		"--log-level", "warn",
		"--unsafe-no-fsync",
	); err != nil {
		return s, err
	}

	// Token users: the admin plus whatever the test asked for.
	users := map[string][]string{AdminUser: {"system:masters"}, ReaderUser: nil}
	for u, g := range opts.Users {
		users[u] = g
	}
	var tokFile bytes.Buffer
	for u, groups := range users {
		tok, err := randomHex(24)
		if err != nil {
			return s, err
		}
		s.tokens[u] = tok
		g := ""
		for i, x := range groups {
			if i > 0 {
				g += ","
			}
			g += x
		}
		if g == "" {
			fmt.Fprintf(&tokFile, "%s,%s,%s\n", tok, u, u)
		} else {
			fmt.Fprintf(&tokFile, "%s,%s,%s,%q\n", tok, u, u, g)
		}
	}
	tokPath := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokPath, tokFile.Bytes(), 0o600); err != nil {
		return s, err
	}
	saKey, saPub, err := writeServiceAccountKey(dir)
	if err != nil {
		return s, err
	}
	certDir := filepath.Join(dir, "certs")
	s.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	if err := s.start(opts.BinDir, "kube-apiserver",
		"--etcd-servers", etcdClient,
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(ports[2]),
		"--cert-dir", certDir,
		"--token-auth-file", tokPath,
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saPub,
		"--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.96.0.0/24",
		"--allow-privileged",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v", "0",
	); err != nil {
		return s, err
	}
	if err := s.waitReady(ctx, certDir, opts.ReadyTimeout); err != nil {
		return s, err
	}
	s.Config = s.ConfigFor(AdminUser)
	return s, nil
}

// ConfigFor returns a rest.Config authenticating as user.
func (s *Server) ConfigFor(user string) *rest.Config {
	return &rest.Config{
		Host:            s.URL,
		BearerToken:     s.tokens[user],
		TLSClientConfig: rest.TLSClientConfig{CAData: s.caData},
		QPS:             200,
		Burst:           400,
		Timeout:         30 * time.Second,
	}
}

// Kubeconfig writes a kubeconfig file for user with one context named
// context, and returns its path.
func (s *Server) Kubeconfig(user, context string) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: %s\n", s.URL)
	fmt.Fprintf(&b, "    certificate-authority-data: %s\n", base64.StdEncoding.EncodeToString(s.caData))
	fmt.Fprintf(&b, "users:\n- name: %s\n  user:\n    token: %s\n", user, s.tokens[user])
	fmt.Fprintf(&b, "contexts:\n- name: %s\n  context:\n    cluster: test\n    user: %s\ncurrent-context: %s\n", context, user, context)
	p := filepath.Join(s.Dir, "kubeconfig-"+user+"-"+context)
	return p, os.WriteFile(p, b.Bytes(), 0o600)
}

// Stop terminates the API server, then etcd, and waits for both.
func (s *Server) Stop() error {
	var errs []error
	s.once.Do(func() {
		for i := len(s.procs) - 1; i >= 0; i-- {
			p := s.procs[i]
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
				errs = append(errs, fmt.Errorf("%s did not stop on SIGTERM, killed", p.name))
			}
			p.log.Close()
		}
	})
	return errors.Join(errs...)
}

func (s *Server) start(binDir, name string, args ...string) error {
	logf, err := os.Create(filepath.Join(s.Dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Dir = s.Dir
	// The children die with the test binary, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return nil
}

// waitReady polls /readyz until it answers 200, a process exits or the
// timeout passes.
func (s *Server) waitReady(ctx context.Context, certDir string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // only until the cert is read; the Config verifies it
	}
	defer client.CloseIdleConnections()
	last := ""
	for {
		for _, p := range s.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited before the API server was ready: %v", p.name, p.err)
			default:
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+s.tokens[AdminUser])
		resp, err := client.Do(req)
		if err == nil {
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ca, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
				if err != nil {
					return fmt.Errorf("read serving certificate: %w", err)
				}
				s.caData = ca
				return nil
			}
			last = fmt.Sprintf("status %d: %s", resp.StatusCode, buf.String())
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready after %s (last: %s)", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) logTail() string {
	var b bytes.Buffer
	for _, p := range s.procs {
		data, err := os.ReadFile(filepath.Join(s.Dir, p.name+".log"))
		if err != nil {
			continue
		}
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(&b, "\n--- %s log (tail) ---\n%s", p.name, data)
	}
	return b.String()
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func writeServiceAccountKey(dir string) (keyPath, pubPath string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	keyPath = filepath.Join(dir, "sa.key")
	pubPath = filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return "", "", err
	}
	return keyPath, pubPath, nil
}
