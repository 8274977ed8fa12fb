package live

import (
	"context"
	"errors"
	"fmt"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
)

// ErrNoCluster is returned by Stage.Connect for an environment that names
// no cluster: it is not compared, and a notice says so.
var ErrNoCluster = errors.New("no cluster")

// Stage is the live comparison as an engine stage: `gate check --live`,
// `gate diff --live` and the App run it like every other check. It fills
// EnvReport.Live and EnvReport.Drift through the engine's Annotator hook.
type Stage struct {
	// Connect returns the cluster of an environment and a name for it in
	// findings (a kube context), or ErrNoCluster.
	Connect func(ctx context.Context, env checks.Env) (Cluster, string, error)
	// Options tune every comparison; Diff is taken from the run's trusted
	// diff settings and Server from Connect.
	Options Options
}

var (
	_ engine.Stage     = (*Stage)(nil)
	_ engine.Annotator = (*Stage)(nil)
)

// Name implements engine.Stage.
func (s *Stage) Name() string { return CheckName }

// Check implements engine.Stage; the work happens in Annotate, which can
// attach diffs as well as findings.
func (s *Stage) Check(context.Context, *engine.Input) ([]checks.Finding, error) { return nil, nil }

// Annotate implements engine.Annotator: compares one environment with its
// cluster.
func (s *Stage) Annotate(ctx context.Context, in *engine.Input, er *checks.EnvReport) {
	if in.Head == nil || in.Head.Failed() {
		// The rendering failed and already says so; comparing a partial
		// rendering would show its missing objects as deletions.
		return
	}
	envFinding := func(rule string, sev checks.Severity, msg string) checks.Finding {
		return checks.Finding{Check: CheckName, RuleID: rule, Severity: sev, Env: in.Env.Name, Message: msg, Origin: checks.Origin{File: in.Env.Path}}
	}
	c, name, err := s.Connect(ctx, in.Env)
	switch {
	case errors.Is(err, ErrNoCluster):
		er.Findings = append(er.Findings, envFinding("live/no-cluster", checks.SeverityNotice,
			"not compared with a live cluster: the environment names no cluster in gate.yaml and no --context was given"))
		return
	case err != nil:
		er.Findings = append(er.Findings, envFinding(RuleUnreachable, checks.SeverityError,
			fmt.Sprintf("cannot compare with the live cluster: %v", err)))
		return
	}
	opts := s.Options
	opts.Diff = in.DiffOptions
	opts.Server = name
	base := in.Base
	if base != nil && base.Failed() {
		base = nil // no drift against a broken base rendering
	}
	res := Compare(ctx, c, in.Head, base, opts)
	er.Live, er.Drift = res.Live, res.Drift
	er.Findings = append(er.Findings, res.Findings...)
}
