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
	"strconv"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/gate-ops/gate/checks"
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
// internal/run wires it to checks/engine (run.AppRunner), so the App runs
// exactly what `gate check --base` runs.
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
// reason. It returns an *errRetry when the forge or git could not be reached
// and River should run the job again later (not on its last attempt: then
// the check runs say why).
func (a *App) process(ctx context.Context, j *Job) (retry error) {
	start := time.Now()
	log := a.log.With("delivery", j.Delivery, "repo", j.Repo, "pr", j.PR, "head", short(j.HeadSHA), "trigger", j.Trigger)
	defer func() { a.m.runDuration.WithLabelValues("total").Observe(time.Since(start).Seconds()) }()
	if a.cfg.RunTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, a.cfg.RunTimeout, fmt.Errorf("the run took longer than %s", a.cfg.RunTimeout))
		defer cancel()
	}
	p, err := a.forge.Checks(ctx, j, log)
	if err != nil {
		log.Error("no check runs for the job", "err", err)
		a.m.runs.WithLabelValues("error").Inc()
		return nil
	}
	if j.rerun {
		// An earlier attempt may have published the verdict and died before
		// River recorded the job done (a SIGKILL before the asynchronous
		// completer wrote it): do not publish a second set.
		done, err := p.Published(ctx)
		if err != nil {
			if a.handingBack(ctx) {
				return errHandedBack
			}
			return a.failOrRetry(ctx, j, p, log, err)
		}
		if done {
			a.m.runs.WithLabelValues("already_published").Inc()
			log.Info("an earlier attempt already published this head's check runs; nothing to do", "attempt", j.attempt)
			return nil
		}
	}
	// Last: complete check runs of this run the forge has and gate lost.
	defer p.Done(ctx)
	// A bug in gate (a panic anywhere in the run) must neither take the
	// server down nor leave the check runs in progress.
	defer func() {
		if r := recover(); r != nil {
			log.Error("run panicked", "panic", r, "stack", string(debug.Stack()))
			p.Fail(ctx, fmt.Errorf("internal error: %v. This is a bug in gate; please report it and re-run the check", r))
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
		return a.failOrRetry(ctx, j, p, log, err)
	}
	envs, err := a.runner.Plan(ctx, rv)
	if err != nil && a.handingBack(ctx) {
		return a.handBack(p, log)
	}
	if err != nil {
		p.Fail(ctx, fmt.Errorf("find the environments: %w", err))
		return nil
	}
	// The next webhooks of the repository create these queued at once.
	a.rememberEnvs(ctx, j.Repo, envs)
	if err := p.Create(ctx, envs, a.untouched(ctx, rv, envs, log)); err != nil {
		return a.failOrRetry(ctx, j, p, log, err)
	}
	checkStart := time.Now()
	rep, err := a.check(ctx, rv, log)
	a.m.runDuration.WithLabelValues("check").Observe(time.Since(checkStart).Seconds())
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil && a.handingBack(ctx) {
		return a.handBack(p, log)
	}
	if err != nil {
		p.Fail(ctx, fmt.Errorf("check: %w", err))
		return nil
	}
	// A newer push recorded by another replica since the last look wins.
	if reason := a.supersededBy(ctx, j); reason != nil {
		p.Fail(cancelledWith(ctx, reason), fmt.Errorf("check: %w", reason))
		return nil
	}
	pubStart := time.Now()
	ok := p.Publish(ctx, rep)
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
func (a *App) closeLeftovers(ctx context.Context, j *Job, reason error) {
	log := a.log.With("repo", j.Repo, "pr", j.PR, "head", short(j.HeadSHA))
	p, err := a.forge.Checks(ctx, j, log)
	if err != nil {
		log.Error("no check runs for the job", "err", err)
		return
	}
	p.Close(ctx, reason)
}

// failOrRetry hands a failure the forge or git may get over back to River
// (the job runs again after a backoff; its check runs stay queued or in
// progress meanwhile, as GitHub shows pending checks); anything else, or
// the last attempt, completes the check runs with the reason.
func (a *App) failOrRetry(ctx context.Context, j *Job, p Checks, log *slog.Logger, err error) error {
	if a.handingBack(ctx) {
		return a.handBack(p, log)
	}
	if ctx.Err() == nil && !j.lastAttempt && a.transient(err) {
		a.m.runs.WithLabelValues("retry").Inc()
		log.Warn("run could not finish; it will run again", "err", err, "attempt", j.attempt)
		p.Keep() // the next attempt finds them
		return &errRetry{err: err}
	}
	p.Fail(ctx, err)
	return nil
}

// handBack leaves the run's check runs as they are (queued or in
// progress: the next attempt takes them over by external_id) and returns
// errHandedBack, so the job goes back to the queue.
func (a *App) handBack(p Checks, log *slog.Logger) error {
	p.Keep()
	a.m.runs.WithLabelValues("handed_back").Inc()
	log.Info("shutting down mid-run: the job goes back to the queue with its check runs left open")
	return errHandedBack
}

// transient tells failures worth a later attempt (the forge's outages and
// rate limits, timeouts, network; a git host's transient failure) from
// final ones.
func (a *App) transient(err error) bool {
	var fe *repocache.FetchError
	if errors.As(err, &fe) {
		return fe.Transient
	}
	if a.forge.Transient(err) {
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
func (a *App) fetch(ctx context.Context, j *Job, log *slog.Logger) (*Revisions, error) {
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
		// The forge's ref is the truth: check the head it points at instead.
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
func (a *App) fetchRetrying(ctx context.Context, j *Job, f repocache.Fetch, log *slog.Logger) (*repocache.Result, error) {
	reauth, fresh := false, false
	for attempt := 0; ; attempt++ {
		tok, err := a.forge.GitToken(ctx, j, fresh)
		fresh = false
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
			reauth, fresh = true, true // once: the next token is a new one
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
