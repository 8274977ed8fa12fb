package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/internal/run"
)

func newValidateCmd(g *globals) *cobra.Command {
	var (
		envNames []string
		all      bool
		failOn   string
		outputs  outputFlags
	)
	cmd := &cobra.Command{
		Use:   "validate [--env NAME]...",
		Short: "Validate rendered environments against Kubernetes and CRD schemas, offline",
		Long: `Render environments and validate every object strictly against the schemas of
the environment's kubernetesVersion (embedded in gate: no network) and against
every CustomResourceDefinition the repo renders or lists under schemas.paths in
gate.yaml. Unknown fields, wrong types, missing required fields, bad names and
labels, and deprecated or removed apiVersions are findings on the source line.

Without --env, every environment is validated, like gate check.

Findings are printed as file:line on stdout; with --output, as a report in that
format (json, sarif, junit, markdown, text), like gate check. Exit codes: 0 pass,
1 findings at or above --fail-on, 2 usage or internal error.`,
		Example: `  gate validate
  gate validate --env prod
  gate validate -o sarif=schema.sarif`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var outs []run.Output
			var err error
			if len(outputs.outputs) > 0 || outputs.outputFile != "" {
				if outs, err = outputs.parse("text"); err != nil {
					return err
				}
			}
			src, cfg, err := g.openWorktree()
			if err != nil {
				return err
			}
			// The engine's path, as gate check takes it: the same render,
			// the schema stage, and the scrubbing of Secret values from
			// every finding (a render error can quote one).
			req, err := run.Request(cmd.Context(), run.Intent{Mode: run.Validate, Opened: &run.Opened{Head: src, Trusted: src, Config: cfg},
				Envs: envNames, FailOn: failOn, Limits: g.limits, Render: g.renderOptions(), Logger: g.log})
			if err != nil {
				return err
			}
			rep, err := run.Run(cmd.Context(), req, g.limits)
			if err != nil {
				return err
			}
			finds := rep.AllFindings()
			if outs != nil {
				opts := report.Options{Color: true, ToolVersion: version, Command: cmd.CommandPath(), URIPrefix: g.ws().GitPrefix(g.formats, outs)}
				if err := g.writeReports(outs, rep, opts); err != nil {
					return err
				}
			} else {
				report.FindingLines(g.stdout, finds, len(rep.Envs) > 1)
			}
			resources := 0
			for _, er := range rep.Envs {
				resources += er.Resources
			}
			fmt.Fprintf(g.stderr, "validated %s in %s: %s\n", report.Plural(resources, "resource"), report.Plural(len(rep.Envs), "environment"), report.Summary(finds))
			return verdict(rep.Pass)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&envNames, "env", "e", nil, "environment to validate (repeatable)")
	f.BoolVar(&all, "all", false, "validate every environment (the default; kept for scripts)")
	f.StringVar(&failOn, "fail-on", "error", "lowest severity that fails: error, warning or notice")
	addOutputFlags(cmd, &outputs, g.formats)
	_ = cmd.RegisterFlagCompletionFunc("env", g.completeEnvs)
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"error", "warning", "notice"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
