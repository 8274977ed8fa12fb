package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/policy"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
)

func init() { extraCommands = append(extraCommands, newPolicyCmd) }

// policyDirs opens the --policy directories and OPA bundle archives. They are trusted: the person
// running gate chose them, unlike anything in a pull request's head.
func policyDirs(dirs []string, maxFile int64) ([]policy.Dir, error) {
	out := make([]policy.Dir, 0, len(dirs))
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.Mode().IsRegular() && policy.IsBundle(d) {
			// An OPA bundle archive: read it from its directory.
			parent := filepath.Dir(d)
			src, err := source.OpenDir(parent, maxFile)
			if err != nil {
				return nil, &exitCodeError{code: exitError, err: fmt.Errorf("--policy %s: %w", d, err)}
			}
			out = append(out, policy.Dir{Name: filepath.ToSlash(parent), Src: src, Path: filepath.Base(d)})
			continue
		}
		src, err := source.OpenDir(d, maxFile)
		if err != nil {
			return nil, &exitCodeError{code: exitError, err: fmt.Errorf("--policy %s: %w", d, err)}
		}
		out = append(out, policy.Dir{Name: filepath.ToSlash(d), Src: src})
	}
	return out, nil
}

// newPolicyStage builds the policy stage from the trusted source and
// gate.yaml plus the --policy directories.
func newPolicyStage(ctx context.Context, trusted source.Source, cfg *config.Config, o *stageOptions) (engine.Stage, []checks.Finding, error) {
	if cfg == nil {
		cfg = &config.Config{}
	}
	dirs, err := policyDirs(o.policyDirs, 0)
	if err != nil {
		return nil, nil, err
	}
	st, finds := policy.Load(ctx, trusted, cfg, policy.Options{Dirs: dirs, Timeout: o.policyTimeout, DefaultKubernetesVersion: schema.DefaultKubernetesVersion()})
	return st, finds, nil
}

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
				writeTestReport(g.stdout, rep, coverage)
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

func writeTestReport(w io.Writer, rep *policy.TestReport, coverage bool) {
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "ERROR %s\n", escape.Terminal(p.String()))
	}
	pass, fail := 0, 0
	if rep.Rego != nil {
		for _, r := range rep.Rego.Results {
			switch {
			case r.Skip:
				fmt.Fprintf(w, "SKIP  %s:%d %s\n", escape.Terminal(r.File), r.Line, escape.Terminal(r.Name))
			case r.Pass:
				pass++
				fmt.Fprintf(w, "PASS  %s:%d %s (%s)\n", escape.Terminal(r.File), r.Line, escape.Terminal(r.Name), r.Duration.Round(1000))
			default:
				fail++
				fmt.Fprintf(w, "FAIL  %s:%d %s: %s\n", escape.Terminal(r.File), r.Line, escape.Terminal(r.Name), escape.Lines(fmt.Sprint(r.Err)))
			}
		}
	}
	for _, c := range rep.Suites {
		name := strings.Trim(c.Test+" / "+c.Case, " /")
		if c.Pass {
			pass++
			fmt.Fprintf(w, "PASS  %s %s\n", escape.Terminal(c.File), escape.Terminal(name))
		} else {
			fail++
			fmt.Fprintf(w, "FAIL  %s %s: %s\n", escape.Terminal(c.File), escape.Terminal(name), escape.Lines(fmt.Sprint(c.Err)))
		}
	}
	if coverage && rep.Rego != nil {
		fmt.Fprintln(w)
		for _, c := range rep.Rego.Coverage {
			fmt.Fprintf(w, "coverage %5.1f%%  %s", c.Percent, escape.Terminal(c.File))
			if len(c.NotCoveredLines) > 0 {
				fmt.Fprintf(w, "  (not covered: lines %s)", joinInts(c.NotCoveredLines))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "\n%d passed, %d failed", pass, fail)
	if len(rep.Problems) > 0 {
		fmt.Fprintf(w, ", %d policy problem(s)", len(rep.Problems))
	}
	fmt.Fprintln(w)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
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
			pd, err := policyDirs(dirs, g.maxFile)
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
