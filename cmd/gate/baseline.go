package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/baselinefile"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/run"
)

func newBaselineCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "baseline [--file PATH]",
		Short: "Write today's findings to a baseline file, so gate check judges only what changes after",
		Long: `baseline checks every environment of the work tree, as gate check would, and
writes its findings to a baseline file (default gate-baseline.json at the
repo root; commit it). Each finding is identified by its fingerprint (rule,
environment, object with generator hashes stripped, field path), not its line.

gate check without a base revision (the work tree, --changed-files, or
--staged on a repository's first commit) then compares its findings with the
file: those in it are existing and, with the default fail-on scope new, do not
fail the gate; those not in it are new; those the file has and the work tree
no longer has are fixed. With a base (--base, --staged on a repository with
commits, the Action, the App), the base's own findings are compared instead and
the file is not read. Run baseline again to accept the current findings.

Exit codes: 0 the file was written, 2 usage or internal error.`,
		Example: `  gate baseline
  gate check          # now fails only on findings the baseline does not have`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, cfg, err := g.openWorktree()
			if err != nil {
				return err
			}
			rep, err := g.checkTree(cmd.Context(), src, cfg)
			if err != nil {
				return err
			}
			return run.WriteBaseline(g.stdout, src.Root(), file, rep)
		},
	}
	cmd.Flags().StringVar(&file, "file", baselinefile.DefaultPath, "baseline file to write, relative to the repo root")
	return cmd
}

// checkTree runs gate check's stages over every environment of src (the
// work tree, trusted: its gate.yaml and policies) with no base and no
// baseline: what a first gate check says.
func (g *globals) checkTree(ctx context.Context, src source.Source, cfg *config.Config) (*checks.Report, error) {
	prog := g.newProgress()
	defer prog.done()
	req, err := run.Request(ctx, run.Intent{Mode: run.Check, Opened: &run.Opened{Head: src, Trusted: src, Config: cfg},
		NoBaseline: true, Limits: g.limits, Render: g.renderOptions(), Logger: g.log, Progress: prog.callback()})
	if err != nil {
		return nil, err
	}
	return run.Run(ctx, req, g.limits)
}
