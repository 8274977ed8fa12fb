package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/report"
)

// published says whether every check run of this job's pull request on
// its head is completed and those completed since the job was created
// (at least one) are not cancelled: an earlier attempt published the
// verdict. Any open one, or none at all, means the work is still to do.
func (p *publisher) Published(ctx context.Context) (bool, error) {
	lctx, cancel := context.WithTimeout(ctx, p.a.cfg.PublishTimeout)
	defer cancel()
	ext := p.j.externalID()
	// GitHub keeps whole seconds.
	since := p.j.created.Truncate(time.Second)
	n := 0
	opts := &github.ListCheckRunsOptions{Filter: github.String("all"), ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < 10; page++ {
		res, resp, err := p.gh.Checks.ListCheckRunsForRef(lctx, p.j.Owner, p.j.Name, p.j.HeadSHA, opts)
		if err != nil {
			return false, fmt.Errorf("list the head's check runs: %w", err)
		}
		for _, cr := range res.CheckRuns {
			if cr.GetExternalID() != ext {
				continue
			}
			switch {
			case cr.GetStatus() != "completed":
				return false, nil // left open: the work is still to do
			case cr.GetCompletedAt().Time.Before(since):
				continue // an earlier job's (a Re-run came since)
			case cr.GetConclusion() == report.ConclusionCancelled:
				return false, nil
			}
			n++
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return n > 0, nil
}

// publisher creates and completes one run's check runs.
type publisher struct {
	a    *githubForge
	j    *Job
	gh   *github.Client
	log  *slog.Logger
	ids  map[string]int64 // check-run name -> id
	envs []string         // names in creation order
	// attempted is set once a check run may exist on GitHub.
	attempted bool
	// done are the results this run completed its check runs with, by
	// name: a duplicate of one (a create GitHub carried out twice) ends
	// with the same conclusion.
	done map[string]*report.CheckRun
	// pre are the check runs of untouched environments, completed neutral
	// when they were created: publish leaves them as they are.
	pre map[string]bool
	// adopted is set once the open check runs were taken over for fail.
	adopted bool
}

func (p *publisher) Create(ctx context.Context, envs []checks.Env, untouched *checks.Report) error {
	// A create cut off mid-flight may leave a check run on GitHub that gate
	// never hears of: requests here are not cancelled with the run (a
	// superseded run learns it right after, and completes them all).
	run := ctx
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.a.cfg.PublishTimeout)
	defer cancel()
	p.attempted = true
	// An earlier attempt of this job (or a create whose answer was lost)
	// may have left check runs: take them over instead of doubling them.
	open, neutral, err := p.listRuns(ctx)
	if err != nil {
		return err
	}
	idle := map[string]*checks.EnvReport{}
	if untouched != nil {
		for i := range untouched.Envs {
			idle[untouched.Envs[i].Env.Name] = &untouched.Envs[i]
		}
	}
	// Touched environments first: once an untouched one is completed on
	// GitHub, every touched one has its check run, so a re-run that finds
	// only completed ones knows the verdict was published (published).
	isIdle := func(e checks.Env) bool { return idle[e.Name] != nil }
	ordered := make([]checks.Env, 0, len(envs))
	for _, e := range envs {
		if !isIdle(e) {
			ordered = append(ordered, e)
		}
	}
	for _, e := range envs {
		if isIdle(e) {
			ordered = append(ordered, e)
		}
	}
	planned := map[string]bool{}
	for _, e := range ordered {
		if err := run.Err(); err != nil {
			return err
		}
		name := report.CheckRunName(e.Name)
		planned[name] = true
		if er := idle[e.Name]; er != nil {
			// Untouched: one request creates it completed neutral, or
			// completes the one created queued at webhook time (an earlier
			// attempt of this job may have done so already).
			p.pre[name] = true
			if id, ok := neutral[name]; ok {
				p.ids[name] = id
				continue
			}
			if id, ok := open[name]; ok {
				p.ids[name] = id
			}
			url := p.a.detailsURL(p.j, e.Name)
			cr := report.EnvCheckRun(untouched, er, report.CheckRunOptions{DetailsURL: url})
			p.a.putReport(ctx, p.a.reportKey(p.j, e.Name), cr.Full)
			if err := p.complete(ctx, cr, url); err != nil {
				p.log.Error("could not create the untouched environment's check run", "check_run", name, "err", err)
			}
			continue
		}
		if id, ok := open[name]; ok {
			p.ids[name] = id
			p.envs = append(p.envs, name)
			continue
		}
		var id int64
		err := p.a.write(ctx, func(ctx context.Context) error {
			cr, _, err := p.gh.Checks.CreateCheckRun(ctx, p.j.Owner, p.j.Name, github.CreateCheckRunOptions{
				Name: name, HeadSHA: p.j.HeadSHA, Status: github.String("queued"),
				ExternalID: github.String(p.j.externalID()), DetailsURL: github.String(p.a.detailsURL(p.j, e.Name)),
				Output: &github.CheckRunOutput{Title: github.String("Queued"), Summary: github.String(fmt.Sprintf("gate will render and check environment `%s` (`%s`).", e.Name, e.Path))},
			})
			id = cr.GetID()
			return err
		}, func(ctx context.Context) (bool, error) {
			// The create may have been carried out with its answer lost.
			cr, err := findRun(ctx, p.gh, p.j, name, func(r *github.CheckRun) bool { return r.GetStatus() != "completed" })
			id = cr.GetID()
			return cr != nil, err
		})
		if err != nil {
			return fmt.Errorf("create check run %q: %w", name, err)
		}
		p.ids[name] = id
		p.envs = append(p.envs, name)
	}
	p.closeStrays(ctx, open, planned)
	for _, name := range p.envs {
		_, _, err := p.gh.Checks.UpdateCheckRun(ctx, p.j.Owner, p.j.Name, p.ids[name], github.UpdateCheckRunOptions{
			Name: name, Status: github.String("in_progress"),
			Output: &github.CheckRunOutput{Title: github.String("Checking"), Summary: github.String("Rendering, validating and diffing against the base branch.")},
		})
		if err != nil {
			return fmt.Errorf("start check run %q: %w", name, err)
		}
	}
	return run.Err()
}

// closeStrays completes, neutral, the open check runs of environments
// the plan does not have: created queued at webhook time from the
// repository's previous plan, for an environment this head removed or
// renamed.
func (p *publisher) closeStrays(ctx context.Context, open map[string]int64, planned map[string]bool) {
	for name, id := range open {
		if planned[name] {
			continue
		}
		env := envOfCheckRun(name)
		cr := &report.CheckRun{Name: name, Conclusion: report.ConclusionNeutral, Output: report.CheckRunOutput{Title: "Not an environment at this head",
			Summary: "## Not an environment at this head\n\ngate created this check run when the push arrived, from the environments it last saw in this repository; " +
				"this head does not have environment " + escape.Code(env) + ".\n"}}
		p.ids[name] = id
		if err := p.complete(ctx, cr, ""); err != nil {
			p.log.Error("could not complete the check run of an environment this head does not have", "check_run", name, "err", err)
		}
	}
}

// openRuns lists the head's check runs of this pull request that are not
// completed, by name (the oldest of each name).
func (p *publisher) openRuns(ctx context.Context) (map[string]int64, error) {
	open, _, err := p.listRuns(ctx)
	return open, err
}

// listRuns lists the head's check runs of this pull request by name: those
// not completed (the oldest of each name), and those completed neutral
// since the job was created (an earlier attempt's untouched ones).
func (p *publisher) listRuns(ctx context.Context) (open, neutral map[string]int64, err error) {
	out := map[string]int64{}
	neutral = map[string]int64{}
	since := p.j.created.Truncate(time.Second)
	ext := p.j.externalID()
	opts := &github.ListCheckRunsOptions{Filter: github.String("all"), ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < 10; page++ {
		res, resp, err := p.gh.Checks.ListCheckRunsForRef(ctx, p.j.Owner, p.j.Name, p.j.HeadSHA, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("list the head's check runs: %w", err)
		}
		for _, cr := range res.CheckRuns {
			if cr.GetExternalID() != ext {
				continue
			}
			if cr.GetStatus() == "completed" {
				if cr.GetConclusion() == report.ConclusionNeutral && !p.j.created.IsZero() && !cr.GetCompletedAt().Time.Before(since) {
					neutral[cr.GetName()] = cr.GetID()
				}
				continue
			}
			if id, ok := out[cr.GetName()]; !ok || cr.GetID() < id {
				out[cr.GetName()] = cr.GetID()
			}
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, neutral, nil
}

// publish completes every check run with the report; environments the
// report has but the plan did not get a new check run.
func (p *publisher) Publish(ctx context.Context, rep *checks.Report) bool {
	if rep.HeadRev == "" {
		rep.HeadRev = p.j.HeadSHA
	}
	ok := true
	seen := map[string]bool{}
	for i := range rep.Envs {
		er := &rep.Envs[i]
		url := p.a.detailsURL(p.j, er.Env.Name)
		cr := report.EnvCheckRun(rep, er, report.CheckRunOptions{DetailsURL: url})
		seen[cr.Name] = true
		if p.pre[cr.Name] {
			if cr.Conclusion != report.ConclusionNeutral {
				p.log.Error("the run checked an environment found untouched before it; its check run stays neutral", "check_run", cr.Name, "conclusion", cr.Conclusion)
			}
			continue
		}
		p.a.putReport(ctx, p.a.reportKey(p.j, er.Env.Name), cr.Full)
		if err := p.complete(ctx, cr, url); err != nil {
			p.log.Error("could not complete check run", "check_run", cr.Name, "err", err)
			ok = false
		}
	}
	for _, name := range p.envs {
		if seen[name] {
			continue
		}
		env := envOfCheckRun(name)
		cr := report.ErrorCheckRun(env, report.ConclusionFailure, "The report has no result for this environment. This is a bug in gate; re-run the check.")
		p.a.putReport(ctx, p.a.reportKey(p.j, env), cr.Full) // Details shows why
		if err := p.complete(ctx, cr, ""); err != nil {
			ok = false
		}
	}
	return ok
}

// complete sends the completing update, then the remaining annotation
// batches (GitHub appends them), so the check run is completed first and
// never left in progress by a later failure. What GitHub does not take
// even after the transport's retries (a long outage) is kept and sent
// again later, from where it stopped (see completions).
func (p *publisher) complete(ctx context.Context, cr *report.CheckRun, detailsURL string) error {
	// Completing must happen even when the run's context is cancelled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.a.cfg.PublishTimeout)
	defer cancel()
	p.attempted = true
	c := &completion{j: p.j, cr: cr, details: detailsURL, id: p.ids[cr.Name], at: time.Now()}
	if p.done == nil {
		p.done = map[string]*report.CheckRun{}
	}
	p.done[cr.Name] = cr
	err := p.a.send(ctx, p.gh, c)
	if c.id != 0 {
		p.ids[cr.Name] = c.id
	}
	if err != nil {
		p.a.completions.add(c, err, p.log)
	}
	return err
}

// fail completes the run's check runs with the reason it could not finish;
// with none created yet, it creates one "gate" check run saying why.
func (p *publisher) Fail(ctx context.Context, err error) {
	conclusion := report.ConclusionFailure
	outcome := "error"
	cause := context.Cause(ctx)
	var sup *supersededError
	switch {
	case errors.As(cause, &sup), errors.Is(cause, errShutdown), cause != nil && errors.Is(ctx.Err(), context.Canceled):
		conclusion, outcome = report.ConclusionCancelled, "cancelled"
		err = cause
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		conclusion, outcome = report.ConclusionTimedOut, "timeout"
		if cause != nil {
			err = cause
		}
	}
	a := p.a
	a.m.runs.WithLabelValues(outcome).Inc()
	p.log.Warn("run did not finish", "outcome", outcome, "err", err)
	reason := scrubToken(err.Error())
	// Check runs created queued at webhook time (or by an earlier
	// attempt) that this run did not take over yet end with the reason.
	p.adoptOpen(ctx)
	if len(p.envs) == 0 {
		if conclusion == report.ConclusionCancelled {
			return // nothing was shown on the pull request yet
		}
		cr := report.ErrorCheckRun("", conclusion, reason)
		if e := p.complete(ctx, cr, ""); e != nil {
			p.log.Error("could not report the failure", "err", e)
		}
		return
	}
	for _, name := range p.envs {
		env := envOfCheckRun(name)
		cr := report.ErrorCheckRun(env, conclusion, reason)
		p.a.putReport(ctx, p.a.reportKey(p.j, env), cr.Full) // Details shows why
		if e := p.complete(ctx, cr, ""); e != nil {
			p.log.Error("could not complete check run", "check_run", name, "err", e)
		}
	}
}

// adoptOpen takes over the head's open check runs of this pull request
// (those created queued at webhook time) before the run has its own.
func (p *publisher) adoptOpen(ctx context.Context) {
	if p.adopted {
		return
	}
	p.adopted = true
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.a.cfg.PublishTimeout)
	defer cancel()
	open, err := p.openRuns(lctx)
	if err != nil {
		p.log.Warn("could not list the head's open check runs", "err", err)
		return
	}
	names := make([]string, 0, len(open))
	for name, id := range open {
		if _, known := p.ids[name]; !known {
			p.ids[name] = id
			names = append(names, name)
		}
	}
	sort.Strings(names)
	p.envs = append(p.envs, names...)
}

// envOfCheckRun is the environment a check run is named after ("" for
// the run-wide "gate" check run).
func envOfCheckRun(name string) string {
	env, _ := strings.CutPrefix(name, report.CheckRunName(""))
	if env == name {
		return ""
	}
	return env
}

func toAnnotations(as []report.Annotation) []*github.CheckRunAnnotation {
	out := make([]*github.CheckRunAnnotation, 0, len(as))
	for _, a := range as {
		ga := &github.CheckRunAnnotation{
			Path: github.String(a.Path), StartLine: github.Int(a.StartLine), EndLine: github.Int(a.EndLine),
			AnnotationLevel: github.String(a.Level), Message: github.String(a.Message),
		}
		if a.Title != "" {
			ga.Title = github.String(a.Title)
		}
		if a.RawDetails != "" {
			ga.RawDetails = github.String(a.RawDetails)
		}
		out = append(out, ga)
	}
	return out
}

// Keep implements Checks: no sweep, the next attempt finds them.
func (p *publisher) Keep() { p.attempted = false }

// Close implements Checks.
func (p *publisher) Close(ctx context.Context, reason error) {
	if p.adoptOpen(ctx); len(p.envs) == 0 {
		return
	}
	p.Fail(cancelledWith(ctx, reason), reason)
}
