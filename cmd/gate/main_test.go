package main

import (
	"context"
	"os"
	"testing"
)

// TestMain lets the test binary stand in for gate when a test starts a
// render worker (os.Executable is the test binary then).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == workerCommand {
		os.Exit(execute(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
