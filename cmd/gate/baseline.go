package main

import (
	"github.com/gate-ops/gate/internal/run"

	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/baselinefile"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/source"
)

func newBaselineCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "baseline [--file PATH]",
		Short: "Write today's findings to a baseline file, so gate check judges only what changes after",
		Long: `baseline checks every environment of the work tree, as gate check would, and
writes its findings to a baseline file (default gate-baseline.json at the
repo root; commit it). Each finding is identified by its fingerprint (rule,
environment, object with generator hashes stripped, field path), not its line.

gate check without a base revision (the work tree, --changed-files, or
--staged on a repository's first commit) then compares its findings with the
file: those in it are existing and, with the default fail-on scope new, do not
fail the gate; those not in it are new; those the file has and the work tree
no longer has are fixed. With a base (--base, --staged on a repository with
commits, the Action, the App), the base's own findings are compared instead and
the file is not read. Run baseline again to accept the current findings.

Exit codes: 0 the file was written, 2 usage or internal error.`,
		Example: `  gate baseline
  gate check          # now fails only on findings the baseline does not have`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, cfg, err := g.openWorktree()
			if err != nil {
				return err
			}
			rep, err := g.checkTree(cmd.Context(), src, cfg)
			if err != nil {
				return err
			}
			var finds []checks.Finding
			for _, e := range rep.Envs {
				finds = append(finds, e.Findings...)
			}
			data, err := baselinefile.Marshal(finds)
			if err != nil {
				return &exitCodeError{code: exitError, err: err}
			}
			rel, err := run.RepoRelative(file)
			if err != nil {
				return err
			}
			dst := filepath.Join(src.Root(), filepath.FromSlash(rel))
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return &exitCodeError{code: exitError, err: fmt.Errorf("writing the baseline: %w", err)}
			}
			fmt.Fprintf(g.stdout, "wrote %s: %s in %s\n", escape.Terminal(rel), plural(len(finds), "finding"), plural(len(rep.Envs), "environment"))
			writeByRule(g, finds, "  ")
			if len(rep.Findings) > 0 {
				// Not about an environment (a policy that does not compile,
				// gate.yaml): not debt a baseline can hold.
				fmt.Fprintf(g.stdout, "not in the baseline (fix them: they are not about an environment):\n")
				for _, f := range rep.Findings {
					fmt.Fprintln(g.stdout, "  "+escape.Terminal(f.String()))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", baselinefile.DefaultPath, "baseline file to write, relative to the repo root")
	return cmd
}

// checkTree runs gate check's stages over every environment of src (the
// work tree, trusted: its gate.yaml and policies) with no base and no
// baseline: what a first gate check says.
func (g *globals) checkTree(ctx context.Context, src source.Source, cfg *config.Config) (*checks.Report, error) {
	prog := g.newProgress()
	defer prog.done()
	req, err := run.Request(ctx, run.Intent{Mode: run.Check, Opened: &run.Opened{Head: src, Trusted: src, Config: cfg},
		NoBaseline: true, Limits: g.limits, Render: g.renderOptions(), Logger: g.log, Progress: prog.callback()})
	if err != nil {
		return nil, &exitCodeError{code: exitError, err: err}
	}
	rep, err := run.Run(ctx, req, g.limits)
	if err != nil {
		return nil, &exitCodeError{code: exitError, err: err}
	}
	return rep, nil
}

// writeByRule prints findings counted by rule and severity, most first:
// what a team has to decide about, one line per rule.
func writeByRule(g *globals, finds []checks.Finding, indent string) {
	type key struct {
		rule string
		sev  checks.Severity
	}
	n := map[key]int{}
	envs := map[key]map[string]bool{}
	for _, f := range finds {
		k := key{f.RuleID, f.Severity}
		n[k]++
		if envs[k] == nil {
			envs[k] = map[string]bool{}
		}
		if f.Env != "" {
			envs[k][f.Env] = true
		}
	}
	keys := make([]key, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.sev != b.sev {
			return a.sev > b.sev
		}
		if n[a] != n[b] {
			return n[a] > n[b]
		}
		return a.rule < b.rule
	})
	for _, k := range keys {
		names := make([]string, 0, len(envs[k]))
		for e := range envs[k] {
			names = append(names, e)
		}
		sort.Strings(names)
		where := ""
		if len(names) > 0 {
			where = " in " + strings.Join(names, ", ")
		}
		fmt.Fprintf(g.stdout, "%s%-7s %-28s %s%s\n", indent, k.sev, escape.Terminal(k.rule), plural(n[k], "finding"), escape.Terminal(where))
	}
}
