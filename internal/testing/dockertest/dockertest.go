// Package dockertest runs a real Docker engine (the machine's dockerd,
// Debian's docker.io package) for the test of gate's release image. Each
// test starts its own daemon on temporary directories, with no bridge and
// no iptables rules, so it changes nothing on the machine and shares
// nothing with another run; the daemon is stopped when the test ends and
// dies with the test process (parent-death signal).
package dockertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Engine is a running dockerd and the CLI that talks to it.
type Engine struct {
	host string // DOCKER_HOST
	cli  string
	log  string
}

// Binaries finds dockerd and the docker CLI, or says what is missing.
func Binaries() (dockerd, cli string, err error) {
	dockerd, err = lookPath("dockerd", "/usr/sbin/dockerd", "/usr/bin/dockerd")
	if err != nil {
		return "", "", errors.New("no dockerd (make docker installs Debian's docker.io)")
	}
	cli, err = lookPath("docker", "/usr/bin/docker", "/usr/local/bin/docker")
	if err != nil {
		return "", "", errors.New("no docker CLI (make docker installs Debian's docker.io)")
	}
	return dockerd, cli, nil
}

func lookPath(name string, fallbacks ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, p := range fallbacks {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// Start runs a daemon for t and waits until it answers. It skips t where
// the binaries are missing (make test installs them) and fails it where
// they are present but the daemon does not come up.
func Start(ctx context.Context, t testing.TB) *Engine {
	t.Helper()
	dockerd, cli, err := Binaries()
	if err != nil {
		t.Skip(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("dockerd needs root (CI runs as root)")
	}
	// The socket path must stay short (108 bytes): not under t.TempDir().
	run, err := os.MkdirTemp("", "gate-docker-")
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	e := &Engine{host: "unix://" + filepath.Join(run, "docker.sock"), cli: cli, log: filepath.Join(run, "dockerd.log")}
	logf, err := os.Create(e.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockerd,
		"--data-root", data,
		"--exec-root", filepath.Join(run, "exec"),
		"--pidfile", filepath.Join(run, "dockerd.pid"),
		"--host", e.host,
		"--bridge", "none", "--iptables=false", "--ip-masq=false",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dockerd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
		os.RemoveAll(run)
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := e.Run(ctx, "version", "--format", "{{.Server.Version}}"); err == nil {
			return e
		}
		select {
		case err := <-exited:
			t.Fatalf("dockerd exited: %v\n%s", err, e.logTail())
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd did not answer within a minute\n%s", e.logTail())
		}
	}
}

// Run runs the docker CLI against the engine and returns its stdout; an
// error carries stderr.
func (e *Engine) Run(ctx context.Context, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, e.cli, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+e.host, "DOCKER_BUILDKIT=0", "DOCKER_CONFIG="+filepath.Dir(strings.TrimPrefix(e.host, "unix://")))
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %w\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func (e *Engine) logTail() string {
	b, _ := os.ReadFile(e.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
