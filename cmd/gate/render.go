package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/render"
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
				return usageErr("%v", err)
			}
			for _, r := range results {
				finds = append(finds, r.Findings...)
			}
			if output == "json" {
				if err := writeRenderJSON(g, results); err != nil {
					return err
				}
			} else {
				writeRenderYAML(g, results, origins, len(results) > 1)
			}
			checks.SortFindings(finds)
			for _, f := range finds {
				fmt.Fprintln(g.stderr, escape.Terminal(f.String()))
			}
			if checks.Failing(finds, checks.SeverityError) {
				return failGate()
			}
			return nil
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

func writeRenderYAML(g *globals, results []*render.Result, origins, multi bool) {
	for _, r := range results {
		if multi {
			// A separator between environments: a reader (or a grep) sees
			// where one ends, and an empty environment still shows.
			fmt.Fprintf(g.stdout, "# ===== environment %s (%s): %s =====\n",
				escape.Comment(r.Env.Name), escape.Comment(r.Env.Path), plural(len(r.Resources), "resource"))
		}
		for _, res := range r.Resources {
			fmt.Fprintln(g.stdout, "---")
			if origins {
				if multi {
					fmt.Fprintf(g.stdout, "# Env: %s\n", escape.Comment(r.Env.Name))
				}
				fmt.Fprintf(g.stdout, "# Source: %s\n", escape.Comment(res.Origin.String()))
			}
			doc, err := escape.Document(res.YAML, res.Object)
			if err != nil {
				doc = []byte(escape.Lines(string(res.YAML)))
			}
			g.stdout.Write(doc) //nolint:errcheck // stdout
		}
	}
}

type renderJSON struct {
	Env       checks.Env         `json:"env"`
	Resources []*checks.Resource `json:"resources"`
	Findings  []checks.Finding   `json:"findings"`
	Files     []string           `json:"files"`
}

func writeRenderJSON(g *globals, results []*render.Result) error {
	out := make([]renderJSON, 0, len(results))
	for _, r := range results {
		out = append(out, renderJSON{Env: r.Env, Resources: r.Resources, Findings: nonNil(r.Findings), Files: r.Files})
	}
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func nonNil(f []checks.Finding) []checks.Finding {
	if f == nil {
		return []checks.Finding{}
	}
	return f
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
