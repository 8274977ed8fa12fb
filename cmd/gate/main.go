// Command gate is a Git-native policy and validation gate for GitOps ops
// repos: it renders every environment, validates, evaluates policies, diffs
// against the base branch and live clusters, and reports.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/report"

	// The release image is FROM scratch: no CA bundle on disk. These roots
	// are used only where the system has none, so gate serve still verifies
	// GitHub's certificate there.
	_ "golang.org/x/crypto/x509roots/fallback"
)

// Exit codes, as users of linters expect them.
const (
	exitPass     = 0
	exitFindings = 1
	exitError    = 2
)

// exitCodeError carries an exit code through cobra.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitCodeError) Unwrap() error { return e.err }

// failGate is returned by commands whose findings fail the gate; the
// findings were already printed.
func failGate() error { return &exitCodeError{code: exitFindings} }

// verdict is nil when the gate passes, else failGate.
func verdict(pass bool) error {
	if pass {
		return nil
	}
	return failGate()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the CLI and maps errors to exit codes; tests call it directly.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr fileWriter) int {
	return executeWith(ctx, report.Default(), args, stdin, stdout, stderr)
}

// executeWith is execute with the report formats --output offers.
func executeWith(ctx context.Context, formats report.Registry, args []string, stdin io.Reader, stdout, stderr fileWriter) int {
	root := newRootCmd(stdout, stderr, formats)
	root.SetArgs(args)
	if stdin != nil {
		root.SetIn(stdin)
	}
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitPass
	}
	var ce *exitCodeError
	if errors.As(err, &ce) {
		if ce.err != nil {
			fmt.Fprintln(stderr, "gate:", escape.Lines(ce.err.Error()))
		}
		return ce.code
	}
	fmt.Fprintln(stderr, "gate:", escape.Lines(err.Error()))
	return exitError
}

// GC settings for gate's workload: a run allocates a lot of short-lived
// YAML trees (kustomize re-encodes every object many times) over a small
// live heap. With Go's default GOGC=100 the collector took about a fifth
// of a 50-environment check; 300 roughly halves that. The soft memory
// limit makes the collector work harder instead of letting the heap grow
// past it: 768 MiB for gate serve (README "sizing"), 288 MiB for a CLI
// command, where the 10,000-resource bench check (live heap ~125 MiB)
// peaked at 545-605 MiB RSS with 768 and peaks at ~365 MiB (a lower
// GOGC cost CPU; the limit showed no CPU change beyond the noise of the
// runs measured). GOGC and GOMEMLIMIT in the environment override both.
const (
	gcPercent        = 300
	serveMemoryLimit = 768 << 20
	cliMemoryLimit   = 288 << 20
)

// tuneGC applies the GC settings for a command (serve or not).
func tuneGC(getenv func(string) string, serve bool) (percent int, limit int64) {
	percent, limit = -2, -1 // unchanged
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
		percent = gcPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		limit = cliMemoryLimit
		if serve {
			limit = serveMemoryLimit
		}
		debug.SetMemoryLimit(limit)
	}
	return percent, limit
}
