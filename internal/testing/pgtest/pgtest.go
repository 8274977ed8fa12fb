// Package pgtest runs a real PostgreSQL server (the machine's PostgreSQL
// binaries: initdb and postgres) on a loopback port for gate's tests of
// the App's Postgres-backed queue. Each test gets its own database on a
// server its package shares or starts itself; the server is stopped by the
// test and dies with the test process (parent-death signal), so no
// process outlives the run.
//
// PostgreSQL refuses to run as root; tests in CI do. As root the server
// runs as the "postgres" user (or "nobody") over a directory it owns.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvBin names the environment variable holding the directory with
// initdb and postgres; default: the newest /usr/lib/postgresql/*/bin.
const EnvBin = "GATE_PG_BIN"

// Server is a running PostgreSQL server.
type Server struct {
	// Dir holds the data directory, the socket and the log.
	Dir string
	// Port is the loopback TCP port.
	Port int
	// User is the superuser (trust authentication on loopback only).
	User string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
	once sync.Once
	n    atomic.Int64
}

// BinDir returns $GATE_PG_BIN, else the newest /usr/lib/postgresql/*/bin
// that has initdb, else "".
func BinDir() string {
	if d := os.Getenv(EnvBin); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Available reports why dir cannot run a server, or nil.
func Available(dir string) error {
	if dir == "" {
		return errors.New("no PostgreSQL binaries (install them with `make postgres`, or set " + EnvBin + ")")
	}
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return fmt.Errorf("PostgreSQL binaries in %s: %w", dir, err)
		}
	}
	return nil
}

// Required says whether a missing PostgreSQL fails the tests rather than
// skipping them: in CI, or when GATE_PG_BIN is set.
func Required() (string, bool) {
	if d := os.Getenv(EnvBin); d != "" {
		return EnvBin + "=" + d, true
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		return "CI=" + ci, true
	}
	return "", false
}

// runAs is the account the server runs as when this process is root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists to run PostgreSQL")
}

// Start initialises a cluster in a new temporary directory and starts the
// server on a free loopback port; it returns once the server accepts
// connections.
func Start(ctx context.Context, binDir string) (s *Server, err error) {
	if binDir == "" {
		binDir = BinDir()
	}
	if err := Available(binDir); err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gate-pg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("give %s to the PostgreSQL user: %w", dir, err)
		}
	}
	s = &Server{Dir: dir, User: "gate", done: make(chan struct{})}
	data := filepath.Join(dir, "data")
	env := append(os.Environ(), "LC_ALL=C", "LANG=C", "TZ=UTC")
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), "-D", data, "-U", s.User, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Env, initdb.Dir = env, dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if s.Port, err = freePort(); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// Run postgres itself (not through pg_ctl, which detaches it) so it is
	// this process's child and gets SIGQUIT (immediate shutdown) if the
	// test binary dies without stopping it.
	s.cmd = exec.Command(filepath.Join(binDir, "postgres"), "-D", data, "-p", strconv.Itoa(s.Port),
		"-h", "127.0.0.1", "-k", dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB")
	s.cmd.Env, s.cmd.Dir = env, dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, s.Log())
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			return c.Close(ctx)
		}
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited: %v", s.err)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DSN is the connection string of database db.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", s.User, s.Port, db)
}

// Log returns the server's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
	return string(b)
}

// CreateDB creates a new empty database and returns its DSN.
func (s *Server) CreateDB(ctx context.Context, prefix string) (string, error) {
	name := fmt.Sprintf("%s_%d_%d", sanitize(prefix), os.Getpid(), s.n.Add(1))
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	if b.Len() == 0 {
		return "db"
	}
	return b.String()
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Stop shuts the server down (fast shutdown, then kill after 10 s) and
// removes its directory.
func (s *Server) Stop() error {
	var err error
	s.once.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
				<-s.done
				err = errors.New("postgres did not stop in 10s; killed")
			}
		}
		if e := os.RemoveAll(s.Dir); e != nil && err == nil {
			err = e
		}
	})
	return err
}

// StartTB starts a server for one test, stopped by Cleanup. Without the
// binaries the test fails when Required and is skipped (with the reason)
// otherwise.
func StartTB(tb testing.TB) *Server {
	tb.Helper()
	dir := BinDir()
	if err := Available(dir); err != nil {
		if why, must := Required(); must {
			tb.Fatalf("Postgres tests need PostgreSQL (%s): %v", why, err)
		}
		tb.Skipf("Postgres tests skipped (not CI, no %s): %v", EnvBin, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, dir)
	if err != nil {
		tb.Fatalf("start PostgreSQL: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Logf("stop PostgreSQL: %v", err)
		}
	})
	return s
}

// DB starts a server for the test and returns the DSN of a new database on it.
func DB(tb testing.TB) string {
	tb.Helper()
	s := StartTB(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := s.CreateDB(ctx, tb.Name())
	if err != nil {
		tb.Fatal(err)
	}
	return dsn
}
