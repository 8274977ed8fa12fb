package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/gate-ops/gate/internal/testing/kerneltrace"
)

// TestMain lets the test binary stand in for gate when a test starts a
// render worker (os.Executable is the test binary then).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == workerCommand {
		os.Exit(execute(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if kerneltrace.Child() {
		// Re-run by TestCLIKernelTrace: in an empty network namespace,
		// under strace.
		if err := kerneltrace.ChildSetup(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}
