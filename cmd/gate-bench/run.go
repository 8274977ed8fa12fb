package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sample is one timed run of a pipeline.
type sample struct {
	wall time.Duration
	// peakRSS is the largest resident set of any process of the run, in
	// bytes (rusage ru_maxrss of each child).
	peakRSS int64
	// cpu is user+system time of every process of the run.
	cpu time.Duration
	// note is a short summary of what the run found (findings, resources).
	note string
}

// proc is the outcome of one child process.
type proc struct {
	code   int
	rss    int64
	cpu    time.Duration
	stdout []byte
	stderr []byte
}

// usage reads the rusage of a finished child.
func usage(ps *os.ProcessState) (rss int64, cpu time.Duration) {
	if ps == nil {
		return 0, 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024 // Linux reports KiB
	}
	return rss, ps.UserTime() + ps.SystemTime()
}

// runProc runs a command to completion, capturing its output. A non-zero
// exit is not an error here: callers decide which codes mean "findings".
func runProc(ctx context.Context, dir string, env []string, stdout io.Writer, name string, args ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out, errb bytes.Buffer
	if stdout != nil {
		cmd.Stdout = stdout
	} else {
		cmd.Stdout = &out
	}
	cmd.Stderr = &errb
	err := cmd.Run()
	p := &proc{stdout: out.Bytes(), stderr: errb.Bytes()}
	p.rss, p.cpu = usage(cmd.ProcessState)
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
			return p, nil
		}
		return p, fmt.Errorf("run %s: %w", name, err)
	}
	return p, nil
}

// pipeline runs `first | tee >(second...)` : the stdout of first is fed to
// the stdin of every consumer at once, like a shell pipeline with tee. It
// returns the processes in order (first, then consumers).
func pipeline(ctx context.Context, dir string, first []string, consumers ...[]string) ([]*proc, error) {
	src := exec.CommandContext(ctx, first[0], first[1:]...)
	src.Dir = dir
	var srcErr bytes.Buffer
	src.Stderr = &srcErr
	var writers []io.Writer
	var closers []io.Closer
	cons := make([]*exec.Cmd, len(consumers))
	outs := make([]*bytes.Buffer, len(consumers))
	errs := make([]*bytes.Buffer, len(consumers))
	for i, c := range consumers {
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		cmd.Dir = dir
		outs[i], errs[i] = &bytes.Buffer{}, &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = outs[i], errs[i]
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		writers = append(writers, in)
		closers = append(closers, in)
		cons[i] = cmd
	}
	src.Stdout = io.MultiWriter(writers...)
	for _, c := range cons {
		if err := c.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", c.Path, err)
		}
	}
	srcRunErr := src.Run()
	for _, c := range closers {
		_ = c.Close()
	}
	procs := []*proc{{stderr: srcErr.Bytes()}}
	procs[0].rss, procs[0].cpu = usage(src.ProcessState)
	if ee, ok := srcRunErr.(*exec.ExitError); ok {
		procs[0].code = ee.ExitCode()
	} else if srcRunErr != nil {
		for _, c := range cons {
			_ = c.Wait()
		}
		return nil, fmt.Errorf("run %s: %w", first[0], srcRunErr)
	}
	for i, c := range cons {
		err := c.Wait()
		p := &proc{stdout: outs[i].Bytes(), stderr: errs[i].Bytes()}
		p.rss, p.cpu = usage(c.ProcessState)
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			return nil, fmt.Errorf("run %s: %w", consumers[i][0], err)
		}
		procs = append(procs, p)
	}
	return procs, nil
}

// forEach runs fn over items with at most par at once and returns the
// first error.
func forEach[T any](items []T, par int, fn func(T) error) error {
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(it); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// median of durations (the lower middle for even counts, so it is a
// figure that was measured).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2]
}

// tail returns the last n lines of b, for error messages.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
