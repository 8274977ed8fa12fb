package engine

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/diff"
	"github.com/gate-ops/gate/checks/render"
)

// checker checks the rendered environments of one run: the stages over
// each, its diff and blast radius against the base, what is new and fixed,
// and the scrubbing of Secret values.
type checker struct {
	req          *Request
	heads, bases []*render.Result
	because      map[string][]string
	// comparable are the checks whose findings are compared with the
	// base's (or the baseline's): render and the render-only stages.
	comparable map[string]bool
	dopts      diff.Options
	changed    map[string]bool
	// Each environment's findings and diffs are scrubbed of the Secret
	// values of that environment (head and base): a Secret value "root" in
	// one environment must not redact the word in another's messages.
	// Report-wide findings are scrubbed of every environment's values.
	envScrub []*diff.Scrubber
	byEnv    map[string]*diff.Scrubber
	scrub    *diff.Scrubber
	log      *slog.Logger
	// verdicts are the run's per-resource verdicts, shared by every
	// environment's head and base checks.
	verdicts *Verdicts
}

func newChecker(req *Request, heads, bases []*render.Result, because map[string][]string, log *slog.Logger) *checker {
	c := &checker{req: req, heads: heads, bases: bases, because: because, log: log,
		comparable: map[string]bool{"render": true}, changed: changedSet(req.ChangedFiles),
		envScrub: make([]*diff.Scrubber, len(heads)), byEnv: map[string]*diff.Scrubber{}, verdicts: runVerdicts(req)}
	for _, st := range req.Stages {
		if renderOnly(st) {
			c.comparable[st.Name()] = true
		}
	}
	var secretVals []string
	for i := range heads {
		vals := diff.SecretValues(heads[i].Resources)
		if bases != nil {
			vals = append(vals, diff.SecretValues(bases[i].Resources)...)
		}
		secretVals = append(secretVals, vals...)
		c.envScrub[i] = diff.NewScrubber(vals)
		c.byEnv[heads[i].Env.Name] = c.envScrub[i]
	}
	c.scrub = diff.NewScrubber(secretVals)
	if req.Config != nil {
		c.dopts = diff.FromConfig(req.Config.Diff)
	}
	return c
}

// scrubFor scrubs each finding with its environment's values (the run's
// for a finding about no environment).
func (c *checker) scrubFor(fs []checks.Finding) {
	for i := range fs {
		sc, ok := c.byEnv[fs[i].Env]
		if !ok {
			sc = c.scrub
		}
		sc.ScrubFindings(fs[i : i+1])
	}
}

// checkAll checks every environment, in parallel when the stages allow
// it, reporting progress through sides.
func (c *checker) checkAll(ctx context.Context, sides *Request) ([]checks.EnvReport, error) {
	checked := make([]checks.EnvReport, len(c.heads))
	workers := 1
	if concurrent(c.req.Stages) {
		workers = c.req.Render.Parallelism
		if workers <= 0 {
			workers = runtime.GOMAXPROCS(0)
		}
	}
	var (
		next atomic.Int64
		done atomic.Int64
		cw   sync.WaitGroup
	)
	for range min(workers, len(c.heads)) {
		cw.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(c.heads) || ctx.Err() != nil {
					return
				}
				checked[i] = c.checkOne(ctx, i)
				sides.progress("checked %s (%d/%d)", c.heads[i].Env.Name, done.Add(1), len(c.heads))
			}
		})
	}
	cw.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	return checked, nil
}

// checkOne checks environment i.
func (c *checker) checkOne(ctx context.Context, i int) checks.EnvReport {
	res := c.heads[i]
	er := checks.EnvReport{Env: res.Env, Status: checks.EnvChecked, Resources: len(res.Resources)}
	if c.because != nil {
		er.Because = c.because[res.Env.Name]
	}
	er.Findings = append(er.Findings, res.Findings...)
	in := &Input{Env: res.Env, Head: res, All: c.heads, DiffOptions: c.dopts, PullRequest: c.req.Base != nil, Verdicts: c.verdicts}
	var baseFinds []checks.Finding
	if c.bases != nil {
		c.diffBase(i, in, &er)
		if er.Status != checks.EnvUntouched {
			// The base first: its verdicts (kept from an earlier run
			// of the same base, often) are the head's but for what the
			// change touches.
			baseFinds = checkBase(ctx, c.req, c.bases, i, c.dopts, c.comparable, c.verdicts)
		}
	}
	for _, st := range c.req.Stages {
		got, err := runStage(ctx, st, in)
		if err != nil {
			er.Findings = append(er.Findings, checks.Finding{
				Check: st.Name(), RuleID: st.Name() + "/stage-error", Severity: checks.SeverityError, Env: res.Env.Name,
				Message: fmt.Sprintf("%s stage could not run: %v", st.Name(), err), Origin: checks.Origin{File: res.Env.Path},
			})
		}
		er.Findings = append(er.Findings, got...)
		if a, ok := st.(Annotator); ok {
			a.Annotate(ctx, in, &er)
		}
	}
	switch {
	case c.bases != nil:
		if er.Status == checks.EnvUntouched {
			// Neither the rendering nor any file it reads changed:
			// the base has exactly these findings.
			baseFinds = comparableOf(er.Findings, c.comparable)
		}
		er.Fixed = compare(er.Findings, baseFinds, c.comparable)
	case c.req.Baseline != nil:
		er.Fixed = compare(er.Findings, baselineOf(c.req.Baseline, res.Env.Name), c.comparable)
	}
	c.envScrub[i].ScrubFindings(er.Findings)
	c.envScrub[i].ScrubFindings(er.Fixed)
	c.envScrub[i].ScrubDiff(er.Diff)
	c.envScrub[i].ScrubDiff(er.Live)
	c.envScrub[i].ScrubDiff(er.Drift)
	if er.Findings == nil {
		er.Findings = []checks.Finding{}
	}
	er.Duration = res.Duration
	c.log.Debug("environment checked", "env", res.Env.Name, "resources", len(res.Resources), "findings", len(er.Findings))
	return er
}

// diffBase compares environment i with its base: the files that make it
// touched, its diff (unless the request wants none), untouched when
// neither changed.
func (c *checker) diffBase(i int, in *Input, er *checks.EnvReport) {
	base, res := c.bases[i], c.heads[i]
	in.Base = base
	er.Because = sourceFiles(c.req, c.changed, base, res)
	if c.because != nil {
		er.Because = c.because[res.Env.Name]
	}
	if !c.req.NoDiff {
		er.Diff, er.Findings = envDiff(base, res, c.dopts, er.Because, er.Findings)
		in.Diff = er.Diff
		if er.Diff != nil && len(er.Diff.Changes) == 0 && len(er.Because) == 0 {
			er.Status = checks.EnvUntouched
		}
	}
}
