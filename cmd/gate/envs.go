package main

import (
	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/internal/run"
)

func newEnvsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "envs",
		Short: "List the environments of the ops repo and why each was found",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, cfg, err := g.openWorktree()
			if err != nil {
				return err
			}
			envs, finds, treeFinds := run.Envs(cmd.Context(), src, cfg, g.renderOptionsFor(cfg))
			g.printFindings(finds)
			g.printFindings(treeFinds)
			if err := run.WriteEnvs(g.stdout, envs, output); err != nil {
				return err
			}
			return verdict(len(finds) == 0)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
