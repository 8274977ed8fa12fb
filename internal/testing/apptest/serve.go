package apptest

import (
	"crypto/x509"
	"encoding/pem"
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
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// GateBinary builds cmd/gate once per test binary and returns its path.
func GateBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "gate")
		cmd := exec.Command("go", "build", "-o", buildBin, "github.com/gate-ops/gate/cmd/gate")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build cmd/gate: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// Serve is one `gate serve` process.
type Serve struct {
	URL  string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
}

// ServeOptions configure StartServe.
type ServeOptions struct {
	// DatabaseURL is the shared queue (empty: SQLite under CacheDir).
	DatabaseURL string
	// CacheDir is the process's cache (empty: a new temporary one).
	CacheDir string
	// Port to listen on (0: a free one).
	Port int
	// Args are more flags.
	Args []string
}

// StartServe runs `gate serve` against the world's fake GitHub and waits
// until it is ready. The process is killed when the test ends.
func (w *World) StartServe(t testing.TB, o ServeOptions) *Serve {
	t.Helper()
	bin := GateBinary(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(w.Key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if o.CacheDir == "" {
		o.CacheDir = t.TempDir()
	}
	if o.Port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		o.Port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	addr := "127.0.0.1:" + strconv.Itoa(o.Port)
	s := &Serve{URL: "http://" + addr, Log: filepath.Join(dir, "serve.log"), done: make(chan struct{})}
	args := []string{"serve", "--app-id", strconv.Itoa(AppID), "--private-key-file", keyFile,
		"--github-url", w.fakeSrv.URL + "/api/v3/", "--listen", addr, "--public-url", s.URL,
		"--cache-dir", o.CacheDir, "--no-isolate"}
	if o.DatabaseURL != "" {
		args = append(args, "--database-url", o.DatabaseURL)
	}
	args = append(args, o.Args...)
	logf, err := os.Create(s.Log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), "GATE_WEBHOOK_SECRET="+Secret)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	t.Cleanup(func() { s.Kill() })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(s.Log)
			t.Fatalf("gate serve exited before it was ready:\n%s", tail(string(b), 4000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gate serve not ready after 2m")
		}
	}
}

// Kill ends the process with SIGKILL (an OOM kill) and waits for it.
func (s *Serve) Kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
}

// Stop sends SIGTERM (a deploy) and waits up to timeout.
func (s *Serve) Stop(timeout time.Duration) error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(timeout):
		s.Kill()
		return fmt.Errorf("gate serve did not stop within %s", timeout)
	}
}

// Logs returns what the process logged.
func (s *Serve) Logs() string {
	b, _ := os.ReadFile(s.Log)
	return string(b)
}
