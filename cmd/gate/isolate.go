package main

import (
	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/run"
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

// isolator returns the render sandbox (run.Isolator) of this executable.
func (g *globals) isolator() render.Isolator {
	return run.Isolator([]string{workerCommand}, g.renderMemoryMiB, g.log)
}
