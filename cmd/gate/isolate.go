package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/sandbox"
)

// workerCommand is the hidden subcommand a render worker runs as.
const workerCommand = "__render-worker"

// newWorkerCmd renders one environment for a parent gate (see
// internal/sandbox): a request on stdin, the result on stdout.
func newWorkerCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    workerCommand,
		Short:  "Render one environment for a parent gate process (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sandbox.Serve(cmd.Context(), cmd.InOrStdin(), g.stdout, g.stderr); err != nil {
				return &exitCodeError{code: exitError, err: err}
			}
			return nil
		},
	}
}

// isolator returns the render sandbox: each environment rendered by a
// worker process of this same executable, killed at the render deadline
// or past its memory budget. nil when the executable cannot be found
// (rendering then stays in process, with a warning).
func (g *globals) isolator() render.Isolator {
	exe, err := os.Executable()
	if err != nil {
		g.log.Warn("render isolation off: cannot find gate's executable", "err", err)
		return nil
	}
	return &sandbox.Runner{Command: []string{exe, workerCommand}, Memory: int64(g.renderMemoryMiB) << 20, Logger: g.log}
}
