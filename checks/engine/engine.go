// Package engine runs gate: it renders the selected environments of a head
// (and optionally a base) revision, runs every check stage over each, and
// assembles one Report with one verdict. Every front door (CLI, pre-commit,
// Action, GitHub App) calls Run, so they agree on findings.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/config"
)

// Stage checks one rendered environment. Stages are independent: adding a
// check is a new package implementing Stage and one line in Stages.
type Stage interface {
	// Name is the check name on findings ("schema", "policy").
	Name() string
	// Check returns findings for one environment. An error means the stage
	// could not run; the engine reports it as a finding, never drops it.
	Check(ctx context.Context, in *Input) ([]checks.Finding, error)
}

// Input is what a stage sees of one environment.
type Input struct {
	Env  checks.Env
	Head *render.Result
	// Base is the base revision's rendering, nil without --base.
	Base *render.Result
	// All holds every head rendering of the run, for cross-environment rules.
	All []*render.Result
}

// Request is one run.
type Request struct {
	Head source.Source
	// Base, when set, is the base revision; gate.yaml and policies come from it.
	Base source.Source
	// Config is the trusted gate.yaml (from Base when given).
	Config *config.Config
	// Envs selects environments by name; empty means all.
	Envs   []string
	FailOn checks.Severity
	Stages []Stage
	Render render.Options
	Logger *slog.Logger
	// Progress, when set, reports phases for long runs.
	Progress func(msg string)
}

// Plan discovers the environments a request covers.
func Plan(req *Request) ([]checks.Env, []checks.Finding, error) {
	envs, finds := render.Discover(req.Head, req.Config)
	sel, err := render.SelectEnvs(envs, req.Envs)
	if err != nil {
		return nil, finds, err
	}
	return sel, finds, nil
}

// RenderEnvs renders the selected environments of head.
func RenderEnvs(ctx context.Context, req *Request) ([]*render.Result, []checks.Finding, error) {
	envs, finds, err := Plan(req)
	if err != nil {
		return nil, finds, err
	}
	r := render.New(req.Render)
	return r.RenderAll(ctx, req.Head, envs), finds, nil
}

// Run renders and checks every selected environment.
func Run(ctx context.Context, req *Request) (*checks.Report, error) {
	start := time.Now()
	log := req.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if req.FailOn == checks.SeverityNone {
		req.FailOn = checks.SeverityError
	}
	results, finds, err := RenderEnvs(ctx, req)
	if err != nil {
		return nil, err
	}
	rep := &checks.Report{HeadRev: req.Head.Rev(), FailOn: req.FailOn, Findings: finds}
	for _, res := range results {
		er := checks.EnvReport{Env: res.Env, Status: checks.EnvChecked, Resources: len(res.Resources)}
		er.Findings = append(er.Findings, res.Findings...)
		in := &Input{Env: res.Env, Head: res, All: results}
		for _, st := range req.Stages {
			fs, err := st.Check(ctx, in)
			if err != nil {
				er.Findings = append(er.Findings, checks.Finding{
					Check: st.Name(), RuleID: st.Name() + "/stage-error", Severity: checks.SeverityError, Env: res.Env.Name,
					Message: fmt.Sprintf("%s stage could not run: %v", st.Name(), err), Origin: checks.Origin{File: res.Env.Path},
				})
			}
			er.Findings = append(er.Findings, fs...)
		}
		er.Duration = res.Duration
		log.Debug("environment checked", "env", res.Env.Name, "resources", len(res.Resources), "findings", len(er.Findings))
		rep.Envs = append(rep.Envs, er)
	}
	rep.Duration = time.Since(start)
	rep.Finalize()
	return rep, nil
}
