package main

import (
	"github.com/gate-ops/gate/internal/run"

	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/policy"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
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
		run      string
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
			var dirs []policy.TestDir
			for _, a := range args {
				if fi, err := os.Stat(a); err == nil && fi.Mode().IsRegular() && policy.IsBundle(a) {
					parent := filepath.Dir(a)
					src, err := source.OpenDir(parent, g.maxFile)
					if err != nil {
						return usageErr("%s: %v", a, err)
					}
					dirs = append(dirs, policy.TestDir{Src: src, Dir: filepath.Base(a), Prefix: filepath.ToSlash(parent)})
					continue
				}
				src, err := source.OpenDir(a, g.maxFile)
				if err != nil {
					return usageErr("%s: %v", a, err)
				}
				dirs = append(dirs, policy.TestDir{Src: src, Dir: ".", Prefix: filepath.ToSlash(filepath.Clean(a))})
			}
			opts := policy.TestOptions{Coverage: coverage, Builtin: builtin, Filter: run}
			for _, a := range data {
				fi, err := os.Stat(a)
				if err != nil {
					return usageErr("--data %s: %v", a, err)
				}
				d := policy.TestDir{Dir: ".", Prefix: filepath.ToSlash(filepath.Clean(a))}
				root := a
				if !fi.IsDir() {
					root, d.Dir, d.Prefix = filepath.Dir(a), filepath.Base(a), filepath.ToSlash(filepath.Dir(a))
				}
				if d.Src, err = source.OpenDir(root, g.maxFile); err != nil {
					return usageErr("--data %s: %v", a, err)
				}
				opts.Data = append(opts.Data, d)
			}
			if len(args) == 0 {
				src, cfg, err := g.openWorktree()
				if err != nil {
					return err
				}
				for _, d := range policy.PolicyDirs(src, cfg) {
					dirs = append(dirs, policy.TestDir{Src: src, Dir: d})
				}
				for _, d := range cfg.Policies.Data {
					opts.Data = append(opts.Data, policy.TestDir{Src: src, Dir: d})
				}
				opts.NoStrict = !cfg.Policies.StrictRego()
				if len(dirs) == 0 && !builtin {
					return usageErr("no policy directory: create policy/ (or set policies.paths in gate.yaml), name one, or use --builtin")
				}
			}
			rep := policy.RunTests(cmd.Context(), dirs, opts)
			if output == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
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
	f.StringVar(&run, "run", "", "only run Rego tests whose name matches this regular expression")
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
			pd, err := run.PolicyDirs(dirs, g.maxFile)
			if err != nil {
				return err
			}
			st, finds := policy.Load(cmd.Context(), src, cfg, policy.Options{Dirs: pd, DefaultKubernetesVersion: schema.DefaultKubernetesVersion()})
			for _, f := range finds {
				fmt.Fprintln(g.stderr, escape.Terminal(f.String()))
			}
			rules := st.Rules()
			if output == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rules)
			}
			for _, r := range rules {
				fmt.Fprintf(g.stdout, "%-34s %-8s %s\n", escape.Terminal(r.ID), r.Severity, escape.Terminal(r.Title))
			}
			if checks.Failing(finds, checks.SeverityError) {
				return failGate()
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringArrayVar(&dirs, "policy", nil, "extra policy directory (repeatable)")
	return cmd
}
