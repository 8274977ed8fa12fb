// Package run turns what a front door asks for (a CLI command, the
// Action's invocation, the pre-commit hook, the App's pull request) into
// one engine.Request and runs it within its limits. Every door goes
// through here, so the trusted-config rule, failOn and the stages are
// worked out once.
package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/baselinefile"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

// Mode says which stages a run runs.
type Mode int

const (
	// Check runs every stage and gives a verdict.
	Check Mode = iota
	// Diff shows changes only: no schema or policy stage, the live stage
	// when asked, no pass/fail from stages that did not run.
	Diff
	// Validate runs the schema stage only.
	Validate
	// Render runs no stage.
	Render
)

// Intent is what a front door asks.
type Intent struct {
	Mode   Mode
	Opened *Opened
	// Envs are the environments named (none: all).
	Envs []string
	// FailOn and Scope are the user's choice ("" for the trusted
	// gate.yaml's report.failOn, else error and new).
	FailOn string
	Scope  string
	Stages Stages
	Limits Limits
	Render render.Options
	// Baseline names the baseline file ("" for the default when present);
	// NoBaseline ignores it. Read only when there is no base.
	Baseline   string
	NoBaseline bool
	Logger     *slog.Logger
	Progress   func(string)
}

// FailOn resolves the failing severity and scope: the flag, else the
// trusted gate.yaml's report.failOn, else error and new.
func FailOn(cfg *config.Config, severity, scope string) (checks.Severity, string, error) {
	failOn := checks.SeverityError
	var err error
	sc := ""
	if cfg != nil {
		sc = cfg.Report.FailOn.Scope
		if s := cfg.Report.FailOn.Severity; s != "" {
			if failOn, err = checks.ParseSeverity(s); err != nil {
				return 0, "", fmt.Errorf("gate.yaml report.failOn: %w", err)
			}
		}
	}
	if severity != "" {
		if failOn, err = checks.ParseSeverity(severity); err != nil {
			return 0, "", usage("--fail-on: %v", err)
		}
	}
	if scope != "" {
		if sc, err = checks.ParseScope(scope); err != nil {
			return 0, "", usage("--fail-on-scope: %v", err)
		}
	}
	return failOn, sc, nil
}

// Request builds the engine request of in: failOn, the baseline when there
// is no base, and the stages of its mode built from the trusted source.
func Request(ctx context.Context, in Intent) (*engine.Request, error) {
	o := in.Opened
	failOn, scope, err := FailOn(o.Config, in.FailOn, in.Scope)
	if err != nil {
		return nil, err
	}
	req := &engine.Request{Head: o.Head, Base: o.Base, Config: o.Config, Envs: in.Envs, FailOn: failOn, FailOnScope: scope,
		Render: in.Render, Logger: in.Logger, Progress: in.Progress, Incremental: o.Incremental, ChangedFiles: o.Changed}
	if in.Mode == Check && o.Base == nil && !in.NoBaseline {
		// No base to compare with: the baseline file, when there is one,
		// holds the findings accepted as existing.
		if req.Baseline, req.BaselineName, err = LoadBaseline(o.Head, in.Baseline); err != nil {
			return nil, err
		}
	} else if in.Baseline != "" && o.Base != nil && in.Logger != nil {
		in.Logger.Warn("--baseline is not read: the run compares with its base revision", "base", o.BaseDesc)
	}
	st := in.Stages
	switch in.Mode {
	case Diff:
		// gate diff --live: the live stage is the only one that runs.
		st = Stages{NoSchema: true, NoPolicy: true, Live: st.Live}
	case Validate:
		st = Stages{NoPolicy: true}
	case Render:
		st = Stages{NoSchema: true, NoPolicy: true}
	}
	if st.PolicyTimeout == 0 {
		st.PolicyTimeout = in.Limits.PolicyTimeout
	}
	req.Stages, req.Findings, err = BuildStages(ctx, o.Trusted, o.Config, st)
	if err != nil {
		return nil, err
	}
	return req, nil
}

// Run runs req within the limits: the run's deadline and memory budget,
// a stop reported as a finding.
func Run(ctx context.Context, req *engine.Request, l Limits) (*checks.Report, error) {
	ctx, guard, err := Bound(ctx, req, l)
	if err != nil {
		return nil, usage("%v", err)
	}
	defer guard.Stop()
	rep, err := engine.Run(ctx, req)
	if d, ok := req.Head.(*source.Dir); ok {
		if serr := d.SaveHashIndex(); serr != nil && req.Logger != nil {
			req.Logger.Warn("work tree hash index not saved", "err", serr)
		}
	}
	rep, err = guard.Finish(ctx, rep, err)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return rep, err
}

// LoadBaseline reads the baseline file from the head (the run has no
// base, so the head is where gate.yaml and the policies come from too).
// With no name, a missing default file means no baseline.
func LoadBaseline(head source.Source, name string) ([]checks.Finding, string, error) {
	flag := name
	if name == "" {
		name = baselinefile.DefaultPath
	}
	rel, err := RepoRelative(name)
	if err != nil {
		return nil, "", err
	}
	data, err := head.ReadFile(rel)
	if errors.Is(err, fs.ErrNotExist) && flag == "" {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", usage("--baseline: %v", err)
	}
	finds, err := baselinefile.Parse(rel, data)
	if err != nil {
		return nil, "", usage("%v", err)
	}
	return finds, rel, nil
}

// RepoRelative checks a repo-relative slash path (the baseline file).
func RepoRelative(p string) (string, error) {
	c := path.Clean(filepath.ToSlash(p))
	if p == "" || path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", usage("%q: name a path inside the repo, relative to its root", p)
	}
	return c, nil
}
