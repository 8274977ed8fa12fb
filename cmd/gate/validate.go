package main

import (
	"github.com/gate-ops/gate/internal/run"

	"fmt"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/report"
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
			var specs []outputSpec
			var err error
			if len(outputs.outputs) > 0 || outputs.outputFile != "" {
				if specs, err = outputs.parse("text"); err != nil {
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
				return &exitCodeError{code: exitError, err: err}
			}
			rep, err := run.Run(cmd.Context(), req, g.limits)
			if err != nil {
				return usageErr("%v", err)
			}
			resources := 0
			for _, er := range rep.Envs {
				resources += er.Resources
			}
			results := rep.Envs
			finds := rep.AllFindings()
			if specs != nil {
				opts := report.Options{Color: true, ToolVersion: version, Command: cmd.CommandPath(), URIPrefix: g.gitPrefix(specs)}
				if err := g.writeReports(specs, rep, opts); err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "validated %s in %s: %s\n", plural(resources, "resource"), plural(len(results), "environment"), summary(finds))
				if !rep.Pass {
					return failGate()
				}
				return nil
			}
			checks.SortFindings(finds)
			for _, f := range finds {
				line := f.String()
				if f.Env != "" && len(results) > 1 {
					line = "[" + f.Env + "] " + line
				}
				fmt.Fprintln(g.stdout, escape.Terminal(line))
			}
			fmt.Fprintf(g.stderr, "validated %s in %s: %s\n", plural(resources, "resource"), plural(len(results), "environment"), summary(finds))
			if !rep.Pass {
				return failGate()
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&envNames, "env", "e", nil, "environment to validate (repeatable)")
	f.BoolVar(&all, "all", false, "validate every environment (the default; kept for scripts)")
	f.StringVar(&failOn, "fail-on", "error", "lowest severity that fails: error, warning or notice")
	addOutputFlags(f, &outputs, g.formats)
	registerOutputCompletion(cmd, g.formats)
	_ = cmd.RegisterFlagCompletionFunc("env", g.completeEnvs)
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"error", "warning", "notice"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// plural says "1 resource", "3 resources".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// summary counts findings by severity: "2 errors, 1 warning".
func summary(fs []checks.Finding) string {
	n := map[checks.Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	if len(fs) == 0 {
		return "no findings"
	}
	out := ""
	for _, s := range []checks.Severity{checks.SeverityError, checks.SeverityWarning, checks.SeverityNotice} {
		if n[s] == 0 {
			continue
		}
		if out != "" {
			out += ", "
		}
		word := s.String()
		if n[s] > 1 {
			word += "s"
		}
		out += fmt.Sprintf("%d %s", n[s], word)
	}
	return out
}
