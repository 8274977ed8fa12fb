package main

import (
	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks/baselinefile"
	"github.com/gate-ops/gate/internal/run"
)

func newInitCmd(g *globals) *cobra.Command {
	var force, dryRun, baseline bool
	cmd := &cobra.Command{
		Use:   "init [--baseline] [--dry-run] [--force]",
		Short: "Write a gate.yaml for this repo and show what the first gate check says",
		Long: `init looks at the ops repo it is run in and writes gate.yaml at its root:
the environments gate found (each with the reason it was found), the
Kubernetes version they validate against, the policy directories (Rego files
outside the built-in library) and the directories of CustomResourceDefinitions
(schemas.paths, so custom resources validate against them). It then runs
what the first gate check would, with that file, and prints its findings
grouped by rule.

--baseline also writes today's findings to gate-baseline.json (as gate
baseline does): gate check without a base, and the pre-commit hook on a
repository's first commit, then fail only on findings that are new. With a
base (a pull request) the base's own findings are the baseline.

An existing gate.yaml is never overwritten without --force. --dry-run prints
the file instead of writing it.

Exit codes: 0 the file was written (whatever the first check found), 2 usage
or internal error.`,
		Example: `  gate init               # write gate.yaml, show the first check by rule
  gate init --dry-run     # print it only
  gate init --baseline    # and accept today's findings: gate check then judges what changes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.ws().Init(cmd.Context(), run.InitOptions{Force: force, DryRun: dryRun, Baseline: baseline, Out: g.stdout, Check: g.checkTree})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing gate.yaml")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the gate.yaml instead of writing it (and write no baseline)")
	cmd.Flags().BoolVar(&baseline, "baseline", false, "also write today's findings to "+baselinefile.DefaultPath)
	return cmd
}
