package run

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/baselinefile"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/source"
)

// CheckTree runs what a first gate check says over a tree with its
// gate.yaml: every stage, no base, no baseline file.
type CheckTree func(ctx context.Context, src source.Source, cfg *config.Config) (*checks.Report, error)

// InitOptions are gate init's choices.
type InitOptions struct {
	// Force replaces an existing gate.yaml; DryRun prints it instead of
	// writing it (and writes no baseline).
	Force, DryRun bool
	// Baseline also writes today's findings to the baseline file.
	Baseline bool
	Out      io.Writer
	Check    CheckTree
}

// Init is gate init: it writes gate.yaml for the repo (what PlanInit
// found), then runs the first gate check with it and prints its findings
// by rule.
func (w *Workspace) Init(ctx context.Context, o InitOptions) error {
	root, err := w.Root()
	if err != nil {
		return err
	}
	src, err := source.OpenDir(root, w.MaxFile)
	if err != nil {
		return err
	}
	defer src.Close()
	name := w.ConfigPath
	if name == "" {
		name = config.FileName
	}
	rel, err := RepoRelative(name)
	if err != nil {
		return err
	}
	dst := filepath.Join(src.Root(), filepath.FromSlash(rel))
	if _, err := os.Lstat(dst); err == nil && !o.Force && !o.DryRun {
		return usage("%s exists: gate init does not overwrite it (--force to replace it, --dry-run to print what it would write)", rel)
	}
	plan := PlanInit(src, rel)
	data := plan.YAML()
	cfg, err := config.Parse(rel, data)
	if err != nil {
		// A bug, not the user's: say so with the file.
		return fmt.Errorf("gate init wrote a gate.yaml gate cannot read: %w\n%s", err, data)
	}
	cfg.Remotes = w.RemoteURLs()
	plan.Describe(o.Out)
	if o.DryRun {
		fmt.Fprintf(o.Out, "\n--- %s (not written: --dry-run)\n", escape.Terminal(rel))
		_, _ = o.Out.Write(data)
		fmt.Fprintln(o.Out)
	} else {
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", rel, err)
		}
		fmt.Fprintf(o.Out, "\nwrote %s\n", escape.Terminal(rel))
	}
	rep, err := o.Check(ctx, src, cfg)
	if err != nil {
		return err
	}
	return o.firstCheck(src.Root(), rep)
}

// firstCheck prints the first check's verdict and findings by rule, and
// writes the baseline when asked.
func (o InitOptions) firstCheck(root string, rep *checks.Report) error {
	finds := envFindings(rep)
	all := append(append([]checks.Finding(nil), rep.Findings...), finds...)
	verdict := "PASS (exit 0)"
	if !rep.Pass {
		verdict = "FAIL (exit 1)"
	}
	fmt.Fprintf(o.Out, "\nthe first gate check: %s: %s in %s\n", verdict, report.Plural(len(all), "finding"), report.Plural(len(rep.Envs), "environment"))
	report.ByRule(o.Out, all, "  ")
	switch {
	case o.Baseline && !o.DryRun:
		bdata, err := baselinefile.Marshal(finds)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, baselinefile.DefaultPath), bdata, 0o644); err != nil {
			return fmt.Errorf("writing the baseline: %w", err)
		}
		fmt.Fprintf(o.Out, "\nwrote %s: %s accepted as existing; gate check now fails only on new ones (commit both files)\n", baselinefile.DefaultPath, report.Plural(len(finds), "finding"))
		if len(rep.Findings) > 0 {
			fmt.Fprintf(o.Out, "not in the baseline (fix them: they are not about an environment): %s\n", report.Plural(len(rep.Findings), "finding"))
		}
	case !rep.Pass:
		fmt.Fprintf(o.Out, "\nto turn gate on with this debt: gate baseline (or gate init --baseline --force) writes it to %s, and gate check then fails only on new findings; in a pull request the base's own findings are existing and do not fail it\n", baselinefile.DefaultPath)
	}
	return nil
}

func envFindings(rep *checks.Report) []checks.Finding {
	var finds []checks.Finding
	for _, e := range rep.Envs {
		finds = append(finds, e.Findings...)
	}
	return finds
}

// WriteBaseline is gate baseline: the environments' findings of rep (a
// check of the work tree at root) written to file, and what it holds by
// rule on out. Findings not about an environment (a policy that does not
// compile, gate.yaml) are not debt a baseline can hold: they are listed
// apart.
func WriteBaseline(out io.Writer, root, file string, rep *checks.Report) error {
	finds := envFindings(rep)
	data, err := baselinefile.Marshal(finds)
	if err != nil {
		return err
	}
	rel, err := RepoRelative(file)
	if err != nil {
		return err
	}
	dst := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("writing the baseline: %w", err)
	}
	fmt.Fprintf(out, "wrote %s: %s in %s\n", escape.Terminal(rel), report.Plural(len(finds), "finding"), report.Plural(len(rep.Envs), "environment"))
	report.ByRule(out, finds, "  ")
	if len(rep.Findings) > 0 {
		fmt.Fprintf(out, "not in the baseline (fix them: they are not about an environment):\n")
		for _, f := range rep.Findings {
			fmt.Fprintln(out, "  "+escape.Terminal(f.String()))
		}
	}
	return nil
}
