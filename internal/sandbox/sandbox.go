// Package sandbox renders environments in worker processes that can be
// killed: kustomize and Helm take no context, so a hostile chart that loops
// or allocates without bound would otherwise keep burning a server's CPU
// and memory long after its deadline. The worker is gate itself, run with a
// hidden subcommand; it re-opens the revision from a source.Spec, renders
// one environment, writes the result on stdout and exits.
package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
)

// DefaultMemory is a worker's default memory budget: far above what a real
// environment needs (tens of MiB), far below what hurts a server.
const DefaultMemory = 2 << 30

// exitMemory is the worker's exit code when it went past its budget.
const exitMemory = 3

// request is what the parent writes on the worker's stdin.
type request struct {
	Spec    source.Spec          `json:"spec"`
	Env     checks.Env           `json:"env"`
	Options render.WorkerOptions `json:"options"`
	Memory  int64                `json:"memory"`
}

// Runner starts workers. It implements render.Isolator.
type Runner struct {
	// Command is the worker's argv: gate's executable and its hidden
	// worker subcommand.
	Command []string
	// Env is the worker's environment (nil: a minimal one, so no secret
	// of the server's environment reaches a process rendering hostile
	// input).
	Env []string
	// Memory is each worker's heap budget in bytes (0: DefaultMemory).
	Memory int64
	Logger *slog.Logger
	// SharedNetwork runs workers in the server's network namespace. By
	// default (Linux) each worker gets a new, empty one, and only where the
	// machine allows none does it fall back to the server's (logged once).
	SharedNetwork bool

	// noNamespace is set once a worker could not get a namespace.
	noNamespace atomic.Bool
}

// Isolated reports whether workers get a network namespace of their own
// (false once the machine refused one).
func (r *Runner) Isolated() bool {
	return !r.SharedNetwork && !r.noNamespace.Load() && runtime.GOOS == "linux"
}

// maxOutput bounds what a worker may send back.
const maxOutput = 1 << 30

// RenderIsolated implements render.Isolator.
func (r *Runner) RenderIsolated(ctx context.Context, spec source.Spec, env checks.Env, opts render.WorkerOptions) ([]byte, error) {
	if len(r.Command) == 0 {
		return nil, errors.New("sandbox: no worker command")
	}
	mem := r.Memory
	if mem <= 0 {
		mem = DefaultMemory
	}
	in, err := json.Marshal(request{Spec: spec, Env: env, Options: opts, Memory: mem})
	if err != nil {
		return nil, err
	}
	var out, stderr bytes.Buffer
	start := time.Now()
	err = r.run(ctx, in, &out, &stderr, r.Isolated())
	var se *startError
	if err != nil && r.Isolated() && errors.As(err, &se) && namespaceRefused(se.err) && ctx.Err() == nil {
		// The worker did not start: this machine allows no network
		// namespace. Say so once and run workers without one.
		if r.noNamespace.CompareAndSwap(false, true) && r.Logger != nil {
			r.Logger.Warn("render workers share the server's network: no network namespace can be created here", "err", err)
		}
		out.Reset()
		stderr.Reset()
		err = r.run(ctx, in, &out, &stderr, false)
	}
	if r.Logger != nil {
		r.Logger.Debug("render worker done", "env", env.Name, "took", time.Since(start), "err", err)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == exitMemory {
			used, _ := strconv.ParseUint(strings.TrimSpace(lastLine(stderr.String())), 10, 64)
			return nil, &render.MemoryError{Limit: mem, Used: used}
		}
		if strings.Contains(stderr.String(), "out of memory") {
			return nil, &render.MemoryError{Limit: mem}
		}
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(lastLine(stderr.String())))
	}
	return out.Bytes(), nil
}

// run starts one worker and waits for it.
func (r *Runner) run(ctx context.Context, in []byte, out, stderr *bytes.Buffer, isolated bool) error {
	cmd := exec.CommandContext(ctx, r.Command[0], r.Command[1:]...)
	cmd.Env = r.Env
	if cmd.Env == nil {
		cmd.Env = minimalEnv()
	}
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &limitedWriter{w: out, n: maxOutput}
	cmd.Stderr = &limitedWriter{w: stderr, n: 64 << 10}
	cmd.WaitDelay = 2 * time.Second
	setProcAttrs(cmd, isolated)
	if err := cmd.Start(); err != nil {
		return &startError{err}
	}
	return cmd.Wait()
}

// startError is a worker that did not start.
type startError struct{ err error }

func (e *startError) Error() string { return "start render worker: " + e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// minimalEnv passes only what a Go program needs to run.
func minimalEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "TMPDIR", "GODEBUG", "GORACE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// limitedWriter drops output past n bytes and reports an error, which
// makes the worker's write fail and the render count as failed.
type limitedWriter struct {
	w io.Writer
	n int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errors.New("worker output too large")
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

// Serve is the worker's main: it reads one request from in, renders, and
// writes the result to out. A watchdog ends the process with exitMemory
// when the heap passes the budget.
func Serve(ctx context.Context, in io.Reader, out io.Writer, stderr io.Writer) error {
	var req request
	if err := json.NewDecoder(io.LimitReader(in, 1<<20)).Decode(&req); err != nil {
		return fmt.Errorf("read render request: %w", err)
	}
	if req.Memory > 0 {
		stop := watchMemory(uint64(req.Memory), func(used uint64) {
			fmt.Fprintf(stderr, "memory budget exceeded\n%d\n", used)
			os.Exit(exitMemory)
		})
		defer stop()
	}
	src, err := openSpec(req.Spec)
	if err != nil {
		return err
	}
	r := render.New(req.Options.Options())
	res := r.Render(ctx, src, req.Env)
	return render.EncodeResult(out, res)
}

// openSpec re-opens a source, with the ops repo's prefix applied.
func openSpec(s source.Spec) (source.Source, error) {
	switch s.Kind {
	case "dir":
		return source.OpenDir(s.Path, s.MaxFileSize)
	case "git", "index":
		t, err := gitsrc.OpenSpec(s)
		if err != nil {
			return nil, err
		}
		if s.Prefix != "" {
			return gitsrc.Sub(t, s.Prefix), nil
		}
		return t, nil
	}
	return nil, fmt.Errorf("unknown source kind %q", s.Kind)
}

// watchMemory polls the heap and calls over once it passes limit. The
// runtime's own memory limit only makes the GC work harder; a worker past
// its budget has to stop.
func watchMemory(limit uint64, over func(used uint64)) (stop func()) {
	done := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(sample)
				used := sample[0].Value.Uint64() + sample[1].Value.Uint64()
				if used > limit {
					over(used)
				}
			}
		}
	}()
	return func() { close(done) }
}
