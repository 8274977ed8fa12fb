package run

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/app"
	"github.com/gate-ops/gate/internal/chartpull"
)

// AppRunner runs the engine on a pull request as `gate check --base`
// does, except that gate.yaml and the stages (policies) come from the base
// branch's tip rather than the merge base (see app.Revisions.Trusted),
// only the environments the change touches are rendered (the others are
// reported untouched), and renders go through ropts' cache.
func AppRunner(st Stages, lim Limits, ropts render.Options, configPath string) app.Runner {
	if st.PolicyTimeout == 0 {
		st.PolicyTimeout = lim.PolicyTimeout
	}
	request := func(rv *app.Revisions) (*engine.Request, error) {
		cfg, _, err := config.Load(trustedOf(rv), configPath)
		if err != nil {
			return nil, fmt.Errorf("gate.yaml of %s at %s: %w", rv.BaseRef, rv.TrustedSHA, err)
		}
		failOn, scope, err := FailOn(cfg, "", "")
		if err != nil {
			return nil, fmt.Errorf("gate.yaml of the base: %w", err)
		}
		ro := ropts
		if rv.Logger != nil {
			ro.Logger = rv.Logger
		}
		// The base's limits (and the server's flags) bound the render.
		res, err := lim.Resolve(cfg)
		if err != nil {
			return nil, fmt.Errorf("gate.yaml of the base: %w", err)
		}
		ro.Limits, ro.Timeout = res.Render, res.RenderTimeout
		return &engine.Request{Head: rv.Head, Base: rv.Base, Config: cfg, FailOn: failOn, FailOnScope: scope, Render: ro, Logger: rv.Logger, Incremental: true}, nil
	}
	return app.RunnerFuncs{
		PlanFunc: func(_ context.Context, rv *app.Revisions) ([]checks.Env, error) {
			req, err := request(rv)
			if err != nil {
				return nil, err
			}
			envs, _, err := engine.Plan(req)
			return envs, err
		},
		RunFunc: func(ctx context.Context, rv *app.Revisions) (*checks.Report, error) {
			req, err := request(rv)
			if err != nil {
				return nil, err
			}
			pullCharts(ctx, req, rv)
			stages, finds, err := BuildStages(ctx, trustedOf(rv), req.Config, st)
			if err != nil {
				return nil, err
			}
			req.Stages, req.Findings = stages, finds
			rep, err := engine.Run(ctx, req)
			if err != nil {
				return nil, err
			}
			rep.HeadRev, rep.BaseRev = rv.HeadSHA, rv.BaseSHA
			return rep, nil
		},
		// The environments no file of the change reaches, decided as the
		// run decides them (engine.Untouched), so the App creates their
		// check runs completed neutral in one request.
		UntouchedFunc: func(ctx context.Context, rv *app.Revisions, envs []checks.Env) (*checks.Report, error) {
			req, err := request(rv)
			if err != nil {
				return nil, err
			}
			pullCharts(ctx, req, rv)
			names, err := engine.Untouched(req, envs)
			if err != nil || len(names) == 0 {
				return nil, err
			}
			return UntouchedReport(req, rv.HeadSHA, rv.BaseSHA, envs, names), nil
		},
	}
}

// UntouchedReport is the report of the named environments of envs as an
// incremental run reports an environment the change does not reach.
func UntouchedReport(req *engine.Request, head, base string, envs []checks.Env, names []string) *checks.Report {
	rep := &checks.Report{HeadRev: head, BaseRev: base, FailOn: req.FailOn, FailOnScope: req.FailOnScope, Findings: []checks.Finding{}}
	if rep.FailOn == checks.SeverityNone {
		rep.FailOn = checks.SeverityError
	}
	if req.Base != nil {
		rep.Baseline = &checks.BaselineSummary{Against: "base"}
		if rep.FailOnScope == "" {
			rep.FailOnScope = checks.ScopeNew
		}
	}
	idle := map[string]bool{}
	for _, n := range names {
		idle[n] = true
	}
	for _, e := range envs {
		if idle[e.Name] {
			rep.Envs = append(rep.Envs, checks.EnvReport{Env: e, Status: checks.EnvUntouched, Findings: []checks.Finding{}, NotRendered: engine.NotRenderedReason})
		}
	}
	return rep
}

// trustedOf is where a pull request's gate.yaml and policies come from:
// the base branch's tip (the App sets it), else the merge base.
func trustedOf(rv *app.Revisions) source.Source {
	if rv.Trusted != nil {
		return rv.Trusted
	}
	return rv.Base
}

// pullCharts fills the chart cache before a run, from the chart
// references of the base branch's tip and of the merge base, only from
// repositories the base's gate.yaml allows (never from the head: a pull
// request cannot make the App download anything). A chart that cannot be
// pulled is logged; the render then reports it as render/chart-not-cached.
func pullCharts(ctx context.Context, req *engine.Request, rv *app.Revisions) {
	if req.Render.Charts == nil || len(req.Config.Charts.Allow) == 0 {
		return
	}
	log := req.Logger
	if log == nil {
		log = slog.Default()
	}
	p := chartpull.New(req.Render.Charts, req.Config, log)
	for _, src := range []source.Source{trustedOf(rv), rv.Base} {
		if src == nil {
			continue
		}
		res, err := p.PullRepo(ctx, src)
		if err != nil {
			log.Warn("chart references not scanned", "err", err)
			continue
		}
		for _, r := range res {
			if r.Err != nil {
				log.Warn("chart not pulled", "ref", r.Want.String(), "err", r.Err)
			}
		}
		if rv.Base == trustedOf(rv) {
			break
		}
	}
}
