package main

import (
	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/internal/run"
)

// runFlags are the flags check and diff share.
type runFlags struct {
	revs    revFlags
	envs    []string
	failOn  string
	scope   string
	outputs outputFlags
	stages  run.Stages
	// baseline is --baseline (default gate-baseline.json when present);
	// noBaseline is --no-baseline.
	baseline   string
	noBaseline bool
}

func newCheckCmd(g *globals) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "check [--base REV] [--env NAME]... [-o FORMAT[=PATH]]...",
		Short: "Render, validate and policy-check every environment; exit 1 when the gate fails",
		Long: `check is the gate: it renders every environment (or those named with --env),
runs the schema and policy stages over each and gives one verdict.

With --base, it also renders the base revision straight from the git object
store (the merge-base of --base and the head, as a pull request compares),
diffs every environment and reports the blast radius: what changed, by kind,
and which of the change's files caused it. gate.yaml and the policies then
come from the base: a change is judged by the rules it is merged into.
The base is checked too: each finding is new or existing, the base's
findings the change removes are listed as fixed, and by default only new
findings fail the gate (--fail-on-scope all, or report.failOn.scope: all,
counts existing ones too).

Without a base, a baseline file written by gate baseline (gate-baseline.json,
or --baseline PATH) plays the base's part: its findings are existing.

Exit codes: 0 pass, 1 the gate fails (a finding at or above --fail-on),
2 usage or internal error.`,
		Example: `  gate check
  gate check --base origin/main -o text -o sarif=gate.sarif -o markdown=$GITHUB_STEP_SUMMARY
  gate check --env prod --fail-on warning
  gate check -o json --output-file report.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.runCheck(cmd, &f, false, false)
		},
	}
	fs := cmd.Flags()
	addRevFlags(fs, &f.revs, "", "diff against this revision (branch, tag or SHA) and take gate.yaml and policies from it")
	fs.StringArrayVarP(&f.envs, "env", "e", nil, "environment to check (repeatable; default all)")
	fs.StringVar(&f.failOn, "fail-on", "", "lowest severity that fails the gate: error, warning or notice (default from gate.yaml report.failOn, else error)")
	fs.StringVar(&f.scope, "fail-on-scope", "", "which findings fail the gate: new (those the base or the baseline file does not have) or all (default from gate.yaml report.failOn.scope, else new)")
	fs.StringVar(&f.baseline, "baseline", "", "baseline file (gate baseline) to judge against when there is no base, relative to the repo root (default gate-baseline.json when it exists)")
	fs.BoolVar(&f.noBaseline, "no-baseline", false, "ignore the baseline file: every finding counts")
	addOutputFlags(cmd, &f.outputs, g.formats)
	addStageFlags(fs, &f.stages)
	_ = cmd.RegisterFlagCompletionFunc("env", g.completeEnvs)
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"error", "warning", "notice"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on-scope", cobra.FixedCompletions([]string{checks.ScopeNew, checks.ScopeAll}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newDiffCmd(g *globals) *cobra.Command {
	var f runFlags
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "diff [--base REV] [--env NAME]... [-o FORMAT[=PATH]]...",
		Short: "Show what a change does to every environment's rendered objects",
		Long: `diff renders every environment at the base revision (read from the git
object store, never checked out; the merge-base of --base and the head by
default, like a pull request) and at the head (the work tree, or --head),
and shows per environment the objects added, removed and changed: field by
field and as a unified YAML diff. Fields the cluster never sees or the API
server owns are ignored (gate.yaml diff.ignore adds more). Secret values are
never shown: a changed Secret shows which keys changed, with a short hash.

Without --base, diff shows what the uncommitted changes of the work tree do.

Exit codes: 0 (also when there are changes, unless --exit-code), 1 with
--exit-code when something changed or when an environment does not render,
2 usage or internal error.`,
		Example: `  gate diff --base main
  gate diff --base origin/main --env prod -o markdown`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.runCheck(cmd, &f, true, exitCode)
		},
	}
	fs := cmd.Flags()
	addRevFlags(fs, &f.revs, "HEAD", "the revision to diff against")
	fs.StringArrayVarP(&f.envs, "env", "e", nil, "environment to diff (repeatable; default all)")
	fs.BoolVar(&exitCode, "exit-code", false, "exit 1 when any environment changes, like git diff --exit-code")
	addLiveFlags(fs, &f.stages.Live)
	addOutputFlags(cmd, &f.outputs, g.formats)
	_ = cmd.RegisterFlagCompletionFunc("env", g.completeEnvs)
	return cmd
}

// runCheck is check and diff: open the revisions, build the stages from the
// trusted source, run the engine, write every report, map the verdict to
// the exit code.
func (g *globals) runCheck(cmd *cobra.Command, f *runFlags, diffOnly, exitCode bool) error {
	outs, err := f.outputs.parse("text")
	if err != nil {
		return err
	}
	if diffOnly && f.revs.Base == "" {
		return usageErr("--base: name the revision to diff against")
	}
	rv, err := g.openRevs(&f.revs)
	if err != nil {
		return err
	}
	mode := run.Check
	if diffOnly {
		mode = run.Diff
	}
	prog := g.newProgress()
	ctx := cmd.Context()
	req, err := run.Request(ctx, run.Intent{Mode: mode, Opened: rv, Envs: f.envs, FailOn: f.failOn, Scope: f.scope,
		Stages: f.stages, Limits: g.limits, Render: g.renderOptions(), Baseline: f.baseline, NoBaseline: f.noBaseline,
		Logger: g.log, Progress: prog.callback()})
	if err != nil {
		return err
	}
	rep, err := run.Run(ctx, req, g.limits)
	prog.done()
	if err != nil {
		return err
	}
	opts := report.Options{Color: true, Unified: diffOnly, ToolVersion: version, Command: cmd.CommandPath(), URIPrefix: g.ws().GitPrefix(g.formats, outs)}
	if err := g.writeReports(outs, rep, opts); err != nil {
		return err
	}
	if diffOnly {
		return verdict(!run.DiffFails(rep, exitCode))
	}
	return verdict(rep.Pass)
}

// openRevs opens the revisions a run compares (internal/run): the head,
// the base read from the object store, and gate.yaml from the base.
func (g *globals) openRevs(r *revFlags) (*run.Opened, error) {
	rv := r.Revisions
	if r.changedFiles != "" {
		var err error
		if rv.Changed, err = run.ReadChangedFiles(g.stdin, r.changedFiles); err != nil {
			return nil, usageErr("--changed-files: %v", err)
		}
	}
	w := g.ws()
	o, err := w.Open(rv)
	g.maxFile = w.MaxFile
	return o, err
}
