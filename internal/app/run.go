package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/google/go-github/v60/github"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/repocache"
)

// Revisions is what one run checks: the pull request's head and the base
// it is compared with (the merge base of the base branch and the head),
// both read from the object store, never checked out.
type Revisions struct {
	Repo    string
	PR      int
	HeadSHA string
	// BaseSHA is the merge base; BaseRef the base branch name.
	BaseSHA string
	BaseRef string
	Head    source.Source
	// Base is the merge base of the base branch and the head: what the
	// pull request changes is measured against it.
	Base source.Source
	// Trusted is the base branch's current tip: gate.yaml and the
	// policies that decide the verdict come from it, so a pull request
	// branched before a policy was added or tightened is still judged by
	// it. Nil means Base.
	Trusted source.Source
	// TrustedSHA is the commit Trusted was read from.
	TrustedSHA string
	// Git reads the object store, for runners that want more (changed files).
	Git    *git.Repository
	Logger *slog.Logger
}

// Runner is the engine as the App sees it. Plan names the environments
// (one check run each) before the work starts; Run produces the report.
// cmd/gate wires it to checks/engine, so the App runs exactly what
// `gate check --base` runs.
type Runner interface {
	Plan(ctx context.Context, rv *Revisions) ([]checks.Env, error)
	Run(ctx context.Context, rv *Revisions) (*checks.Report, error)
}

// Triager is a Runner that tells, before the run, which environments the
// change does not touch: their check runs are created completed neutral
// in one request each, never queued and started first. It returns a
// report holding only those environments (Status EnvUntouched), the same
// the run will report for them.
type Triager interface {
	Untouched(ctx context.Context, rv *Revisions, envs []checks.Env) (*checks.Report, error)
}

// RunnerFuncs adapts two functions (three with UntouchedFunc, then it is
// a Triager) to Runner.
type RunnerFuncs struct {
	PlanFunc      func(ctx context.Context, rv *Revisions) ([]checks.Env, error)
	RunFunc       func(ctx context.Context, rv *Revisions) (*checks.Report, error)
	UntouchedFunc func(ctx context.Context, rv *Revisions, envs []checks.Env) (*checks.Report, error)
}

// Untouched implements Triager (none without UntouchedFunc).
func (r RunnerFuncs) Untouched(ctx context.Context, rv *Revisions, envs []checks.Env) (*checks.Report, error) {
	if r.UntouchedFunc == nil {
		return nil, nil
	}
	return r.UntouchedFunc(ctx, rv, envs)
}

// Plan implements Runner.
func (r RunnerFuncs) Plan(ctx context.Context, rv *Revisions) ([]checks.Env, error) {
	return r.PlanFunc(ctx, rv)
}

// Run implements Runner.
func (r RunnerFuncs) Run(ctx context.Context, rv *Revisions) (*checks.Report, error) {
	return r.RunFunc(ctx, rv)
}

// errStale means the pull request's head moved past the delivery's head.
var errStale = errors.New("the pull request head moved on")

// process runs one job. Whatever happens, every check run it created ends
// completed: with the verdict, or cancelled, timed out or failed with the
// reason. It returns an *errRetry when GitHub or git could not be reached
// and River should run the job again later (not on its last attempt: then
// the check runs say why).
func (a *App) process(ctx context.Context, j *job) (retry error) {
	start := time.Now()
	log := a.log.With("delivery", j.Delivery, "repo", j.Repo, "pr", j.PR, "head", short(j.HeadSHA), "trigger", j.Trigger)
	defer func() { a.m.runDuration.WithLabelValues("total").Observe(time.Since(start).Seconds()) }()
	if a.cfg.RunTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, a.cfg.RunTimeout, fmt.Errorf("the run took longer than %s", a.cfg.RunTimeout))
		defer cancel()
	}
	p := &publisher{a: a, j: j, log: log, ids: map[string]int64{}, pre: map[string]bool{}}
	gh, err := a.client(j.Installation)
	if err != nil {
		log.Error("no GitHub client for the installation", "err", err)
		a.m.runs.WithLabelValues("error").Inc()
		return nil
	}
	p.gh = gh
	if j.rerun {
		// An earlier attempt may have published the verdict and died before
		// River recorded the job done (a SIGKILL before the asynchronous
		// completer wrote it): do not publish a second set.
		done, err := p.published(ctx)
		if err != nil {
			if a.handingBack(ctx) {
				return errHandedBack
			}
			return p.failOrRetry(ctx, err)
		}
		if done {
			a.m.runs.WithLabelValues("already_published").Inc()
			log.Info("an earlier attempt already published this head's check runs; nothing to do", "attempt", j.attempt)
			return nil
		}
	}
	// Last: complete check runs of this run GitHub has and gate lost.
	defer p.sweep(ctx)
	// A bug in gate (a panic anywhere in the run) must neither take the
	// server down nor leave the check runs in progress.
	defer func() {
		if r := recover(); r != nil {
			log.Error("run panicked", "panic", r, "stack", string(debug.Stack()))
			p.fail(ctx, fmt.Errorf("internal error: %v. This is a bug in gate; please report it and re-run the check", r))
			retry = nil
		}
	}()

	log.Info("run started")
	rv, err := a.fetch(ctx, j, log)
	if errors.Is(err, errStale) {
		a.m.runs.WithLabelValues("stale").Inc()
		// Check runs created queued at webhook time for this head: the
		// moved head's job has its own.
		a.closeLeftovers(ctx, j, errStale)
		return nil
	}
	if err != nil {
		return p.failOrRetry(ctx, err)
	}
	envs, err := a.runner.Plan(ctx, rv)
	if err != nil && a.handingBack(ctx) {
		return p.handBack()
	}
	if err != nil {
		p.fail(ctx, fmt.Errorf("find the environments: %w", err))
		return nil
	}
	// The next webhooks of the repository create these queued at once.
	a.rememberEnvs(ctx, j.Repo, envs)
	if err := p.create(ctx, envs, a.untouched(ctx, rv, envs, log)); err != nil {
		return p.failOrRetry(ctx, err)
	}
	checkStart := time.Now()
	rep, err := a.check(ctx, rv, log)
	a.m.runDuration.WithLabelValues("check").Observe(time.Since(checkStart).Seconds())
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil && a.handingBack(ctx) {
		return p.handBack()
	}
	if err != nil {
		p.fail(ctx, fmt.Errorf("check: %w", err))
		return nil
	}
	// A newer push recorded by another replica since the last look wins.
	if reason := a.supersededBy(ctx, j); reason != nil {
		p.fail(cancelledWith(ctx, reason), fmt.Errorf("check: %w", reason))
		return nil
	}
	pubStart := time.Now()
	ok := p.publish(ctx, rep)
	a.m.runDuration.WithLabelValues("publish").Observe(time.Since(pubStart).Seconds())
	outcome := "pass"
	if !rep.Pass {
		outcome = "fail"
	}
	if !ok {
		outcome = "error"
	}
	a.m.runs.WithLabelValues(outcome).Inc()
	log.Info("run finished", "outcome", outcome, "envs", len(rep.Envs), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// untouched asks the runner (a Triager) which environments the change
// leaves alone; nil when it cannot tell (the run decides then).
func (a *App) untouched(ctx context.Context, rv *Revisions, envs []checks.Env, log *slog.Logger) *checks.Report {
	t, ok := a.runner.(Triager)
	if !ok {
		return nil
	}
	rep, err := t.Untouched(ctx, rv, envs)
	if err != nil {
		log.Warn("could not tell the untouched environments before the run", "err", err)
		return nil
	}
	if rep != nil && rep.HeadRev == "" {
		rep.HeadRev = rv.HeadSHA
	}
	return rep
}

// cancelledWith is ctx cancelled with cause, for fail's choice of
// conclusion.
func cancelledWith(ctx context.Context, cause error) context.Context {
	c, cancel := context.WithCancelCause(ctx)
	cancel(cause)
	return c
}

// closeLeftovers completes, cancelled with reason, the check runs left
// open on j's head: created queued at webhook time, or by an earlier
// attempt of j.
func (a *App) closeLeftovers(ctx context.Context, j *job, reason error) {
	log := a.log.With("repo", j.Repo, "pr", j.PR, "head", short(j.HeadSHA))
	gh, err := a.client(j.Installation)
	if err != nil {
		log.Error("no GitHub client for the installation", "err", err)
		return
	}
	p := &publisher{a: a, j: j, gh: gh, log: log, ids: map[string]int64{}}
	if p.adoptOpen(ctx); len(p.envs) == 0 {
		return
	}
	p.fail(cancelledWith(ctx, reason), reason)
}

// failOrRetry hands a failure GitHub or git may get over back to River
// (the job runs again after a backoff; its check runs stay queued or in
// progress meanwhile, as GitHub shows pending checks); anything else, or
// the last attempt, completes the check runs with the reason.
func (p *publisher) failOrRetry(ctx context.Context, err error) error {
	if p.a.handingBack(ctx) {
		return p.handBack()
	}
	if ctx.Err() == nil && !p.j.lastAttempt && transient(err) {
		p.a.m.runs.WithLabelValues("retry").Inc()
		p.log.Warn("run could not finish; it will run again", "err", err, "attempt", p.j.attempt)
		p.attempted = false // no sweep: the next attempt finds them
		return &errRetry{err: err}
	}
	p.fail(ctx, err)
	return nil
}

// handBack leaves the run's check runs as they are (queued or in
// progress: the next attempt takes them over by external_id) and returns
// errHandedBack, so the job goes back to the queue.
func (p *publisher) handBack() error {
	p.attempted = false // no sweep either: the next attempt finds them
	p.a.m.runs.WithLabelValues("handed_back").Inc()
	p.log.Info("shutting down mid-run: the job goes back to the queue with its check runs left open")
	return errHandedBack
}

// published says whether every check run of this job's pull request on
// its head is completed and those completed since the job was created
// (at least one) are not cancelled: an earlier attempt published the
// verdict. Any open one, or none at all, means the work is still to do.
func (p *publisher) published(ctx context.Context) (bool, error) {
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

// transient tells failures worth a later attempt (GitHub 5xx, rate
// limits, timeouts, network; a git host's transient failure) from final
// ones.
func transient(err error) bool {
	var fe *repocache.FetchError
	if errors.As(err, &fe) {
		return fe.Transient
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		return worthRetrying(err)
	}
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &rl) || errors.As(err, &abuse) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED)
}

// check runs the engine. It returns when the run's context ends even if
// the engine does not (a renderer that ignores the deadline): the check
// runs are completed then, and the engine's goroutine ends on its own. A
// panic in the engine is an error, not a crash of the server.
func (a *App) check(ctx context.Context, rv *Revisions, log *slog.Logger) (*checks.Report, error) {
	type result struct {
		rep *checks.Report
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				log.Error("engine panicked", "panic", r, "stack", string(debug.Stack()))
				ch <- result{err: fmt.Errorf("internal error: %v. This is a bug in gate; please report it and re-run the check", r)}
			}
		}()
		rep, err := a.runner.Run(ctx, rv)
		ch <- result{rep, err}
	}()
	select {
	case r := <-ch:
		return r.rep, r.err
	case <-ctx.Done():
		log.Warn("the engine did not stop at the deadline; completing the check runs without it")
		return nil, ctx.Err()
	}
}

// fetch brings base and head into the repo cache and opens both trees.
func (a *App) fetch(ctx context.Context, j *job, log *slog.Logger) (*Revisions, error) {
	start := time.Now()
	pullRef := "refs/pull/" + strconv.Itoa(j.PR) + "/head"
	baseRef := "refs/heads/" + j.BaseRef
	res, err := a.fetchRetrying(ctx, j, repocache.Fetch{Repo: j.Repo, URL: j.CloneURL, Refs: []string{baseRef, pullRef}, Want: []string{j.HeadSHA}, Always: true}, log)
	a.m.fetchSeconds.Observe(time.Since(start).Seconds())
	a.m.runDuration.WithLabelValues("fetch").Observe(time.Since(start).Seconds())
	if err != nil {
		a.m.fetches.WithLabelValues("error").Inc()
		return nil, err
	}
	if res.Fetched {
		a.m.fetches.WithLabelValues("fetched").Inc()
	} else {
		a.m.fetches.WithLabelValues("cached").Inc()
	}
	if tip, ok := res.Tips[pullRef]; ok && res.Fetched && tip != j.HeadSHA {
		// GitHub's ref is the truth: check the head it points at instead.
		log.Info("pull request head moved; checking the new head", "new_head", short(tip))
		nj := *j
		nj.HeadSHA, nj.EventTime, nj.Force, nj.Trigger = tip, time.Time{}, false, j.Trigger+" (moved head)"
		if out, err := a.enqueue(ctx, &nj); err != nil {
			return nil, fmt.Errorf("queue the moved head %s: %w", short(tip), err)
		} else {
			log.Info("queued the moved head", "outcome", out)
		}
		return nil, errStale
	}
	headRepo, err := a.cache.Open(j.Repo)
	if err != nil {
		return nil, err
	}
	baseRepo, err := a.cache.Open(j.Repo)
	if err != nil {
		return nil, err
	}
	baseTip := res.Tips[baseRef]
	if baseTip == "" {
		baseTip = j.BaseSHA
	}
	mb, err := gitsrc.MergeBase(baseRepo, baseTip, j.HeadSHA)
	if err != nil {
		return nil, fmt.Errorf("find the base of %s: %w", short(j.HeadSHA), err)
	}
	head, err := gitsrc.FromRev(headRepo, j.HeadSHA, a.cfg.MaxFileSize)
	if err != nil {
		return nil, err
	}
	baseTree, err := gitsrc.FromCommit(baseRepo, mb, a.cfg.MaxFileSize)
	if err != nil {
		return nil, err
	}
	rv := &Revisions{Repo: j.Repo, PR: j.PR, HeadSHA: j.HeadSHA, BaseSHA: mb.Hash.String(), BaseRef: j.BaseRef,
		Head: head, Base: baseTree, Trusted: baseTree, TrustedSHA: mb.Hash.String(), Git: headRepo, Logger: log}
	if baseTip != mb.Hash.String() {
		tipRepo, err := a.cache.Open(j.Repo)
		if err != nil {
			return nil, err
		}
		if rv.Trusted, err = gitsrc.FromRev(tipRepo, baseTip, a.cfg.MaxFileSize); err != nil {
			return nil, fmt.Errorf("read the tip of %s: %w", j.BaseRef, err)
		}
		rv.TrustedSHA = baseTip
	}
	return rv, nil
}

// fetchAttempts bounds the tries of one fetch.
const fetchAttempts = 4

// fetchRetrying fetches with the installation token, trying again with
// backoff when the git host or the network failed, and with a new token
// when the host refused the one it had (revoked, expired).
func (a *App) fetchRetrying(ctx context.Context, j *job, f repocache.Fetch, log *slog.Logger) (*repocache.Result, error) {
	reauth := false
	for attempt := 0; ; attempt++ {
		tok, err := a.tokens.get(ctx, j.Installation, j.Owner, j.Name)
		if err != nil {
			return nil, fmt.Errorf("get a token to read %s: %w", j.Repo, err)
		}
		f.Token = tok
		res, err := a.cache.Fetch(ctx, f)
		if err == nil {
			return res, nil
		}
		var fe *repocache.FetchError
		if !errors.As(err, &fe) || attempt+1 >= fetchAttempts || !(fe.Transient || fe.Unauthenticated && !reauth) {
			return nil, err
		}
		if fe.Unauthenticated {
			reauth = true
			a.tokens.forget(j.Installation)
		}
		wait := a.cfg.RetryBase << attempt
		wait = wait/2 + rand.N(wait/2+1)
		a.m.fetches.WithLabelValues("retried").Inc()
		log.Warn("fetch failed; trying again", "err", err, "attempt", attempt+1, "wait", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, err
		}
	}
}

// publisher creates and completes one run's check runs.
type publisher struct {
	a    *App
	j    *job
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

func (p *publisher) create(ctx context.Context, envs []checks.Env, untouched *checks.Report) error {
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
func (p *publisher) publish(ctx context.Context, rep *checks.Report) bool {
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
func (p *publisher) fail(ctx context.Context, err error) {
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
