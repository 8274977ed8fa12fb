package main

import (
	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/internal/run"
)

func newRenderCmd(g *globals) *cobra.Command {
	var (
		envNames []string
		all      bool
		output   string
		origins  bool
	)
	cmd := &cobra.Command{
		Use:   "render [--env NAME]...",
		Short: "Render environments to multi-document YAML (or JSON) on stdout",
		Long: `Render environments exactly as kustomize (or Helm, or plain YAML) would, in
process and hermetically: remote bases, exec functions and paths outside the
repo are refused. Each document is preceded by a "# Source:" comment naming
the file and line it came from.

Without --env, every environment is rendered (like gate check), in the order
gate envs lists them, each opened by a separator comment naming it.`,
		Example: `  gate render
  gate render --env prod
  gate render --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "yaml" && output != "json" {
				return usageErr("--output %q: want yaml or json", output)
			}
			src, cfg, err := g.openWorktree()
			if err != nil {
				return err
			}
			req := &engine.Request{Head: src, Config: cfg, Envs: envNames, Render: g.renderOptionsFor(cfg), Logger: g.log}
			results, finds, err := engine.RenderEnvs(cmd.Context(), req)
			if err != nil {
				return err
			}
			for _, r := range results {
				finds = append(finds, r.Findings...)
			}
			if output == "json" {
				if err := run.WriteRenderJSON(g.stdout, results); err != nil {
					return err
				}
			} else {
				run.WriteRenderYAML(g.stdout, results, origins)
			}
			report.FindingLines(g.stderr, finds, false)
			return verdict(!checks.Failing(finds, checks.SeverityError))
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&envNames, "env", "e", nil, "environment to render (repeatable)")
	f.BoolVar(&all, "all", false, "render every environment (the default; kept for scripts)")
	f.StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	f.BoolVar(&origins, "origins", true, "precede each document with a # Source: file:line comment")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("env", g.completeEnvs)
	return cmd
}

// completeEnvs completes --env with the repo's environment names.
func (g *globals) completeEnvs(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	src, cfg, err := g.openWorktree()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	envs, _ := render.Discover(src, cfg)
	names := make([]string, 0, len(envs))
	for _, e := range envs {
		names = append(names, e.Name+"\t"+e.Path)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
