package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/policy"
	"github.com/gate-ops/gate/internal/run"
)

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test and list Rego policies (conftest and Gatekeeper dialects, built-in library)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newPolicyTestCmd(g), newPolicyListCmd(g))
	return cmd
}

func newPolicyTestCmd(g *globals) *cobra.Command {
	var (
		coverage bool
		builtin  bool
		filter   string
		output   string
		data     []string
	)
	cmd := &cobra.Command{
		Use:   "test [DIR|BUNDLE.tar.gz]...",
		Short: "Run Rego unit tests and Gatekeeper test suites",
		Long: `Run the Rego unit tests (*_test.rego, test_ rules) of policy directories the way
opa test does, and every Gatekeeper test suite (kind: Suite, gator's format:
templates, constraints and allowed/disallowed objects) found in them. Policies
are compiled with gate's capabilities, so a test of a policy that calls
http.send fails here as the policy would in gate check.

Without DIR, the ops repo's policy directories are tested (policies.paths in
gate.yaml, else policy/), with gate.yaml's policies.data loaded under data and
its policies.strict. --data adds data files or directories (conftest verify
--data). --builtin adds the built-in library's own tests.

Exit codes: 0 all tests pass, 1 a test fails or a policy does not load,
2 usage or internal error.`,
		Example: `  gate policy test
  gate policy test policy/ --coverage
  gate policy test policy/ --data exclusions/
  gate policy test --builtin`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageErr("--output %q: want text or json", output)
			}
			opts := policy.TestOptions{Coverage: coverage, Builtin: builtin, Filter: filter}
			dirs, err := g.ws().PolicyTests(args, data, &opts)
			if err != nil {
				return err
			}
			rep := policy.RunTests(cmd.Context(), dirs, opts)
			if output == "json" {
				if err := run.WriteJSON(g.stdout, rep); err != nil {
					return err
				}
			} else {
				rep.WriteText(g.stdout, coverage)
			}
			if rep.Failed() > 0 {
				return failGate()
			}
			if rep.Total() == 0 {
				fmt.Fprintln(g.stderr, "no tests found (want *_test.rego files with test_ rules, or Gatekeeper suites)")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&coverage, "coverage", false, "report line coverage of the policy files")
	f.BoolVar(&builtin, "builtin", false, "also run the built-in library's tests")
	f.StringVar(&filter, "run", "", "only run Rego tests whose name matches this regular expression")
	f.StringArrayVarP(&data, "data", "d", nil, "data file or directory loaded under data (repeatable; conftest verify --data)")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newPolicyListCmd(g *globals) *cobra.Command {
	var (
		output string
		dirs   []string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the rules gate evaluates, with their id, default severity and help",
		Long: `List every rule the ops repo's gate check evaluates: the built-in library, the
repo's conftest packages and Gatekeeper constraints. The ids are the ones
gate.yaml's policies.rules, environments[].rules and exceptions refer to.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageErr("--output %q: want text or json", output)
			}
			src, cfg, err := g.openWorktree()
			if err != nil {
				return err
			}
			rules, finds, err := run.Rules(cmd.Context(), src, cfg, dirs, g.maxFile)
			if err != nil {
				return err
			}
			g.printFindings(finds)
			if output == "json" {
				return run.WriteJSON(g.stdout, rules)
			}
			run.WriteRules(g.stdout, rules)
			return verdict(!checks.Failing(finds, checks.SeverityError))
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringArrayVar(&dirs, "policy", nil, "extra policy directory (repeatable)")
	return cmd
}
