package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
)

// job is one pull-request head to check. It travels as the River job's
// arguments (JSON), so every field a run needs is exported.
type job struct {
	key          string
	Repo         string // owner/name
	Owner, Name  string
	CloneURL     string
	HTMLURL      string
	Installation int64
	PR           int
	HeadSHA      string
	BaseRef      string
	BaseSHA      string
	// EventTime orders deliveries for the same pull request: GitHub does
	// not deliver in order, and an older push must not replace a newer one.
	EventTime time.Time
	Delivery  string
	Trigger   string
	// Force re-runs a head that was already checked (Re-run buttons).
	Force bool
	// attempt is River's attempt number (1 first); lastAttempt says no
	// retry follows; created is when the job was committed.
	attempt     int
	lastAttempt bool
	created     time.Time
	// rerun says an earlier attempt ran (and may have published).
	rerun bool
}

// externalID is the check runs' external_id: the pull request and its
// base branch, so a Re-run of a check run that GitHub sends without pull
// requests (one from a fork) still finds what to check.
func (j *job) externalID() string {
	return fmt.Sprintf("%s#%d@%s", j.Repo, j.PR, j.BaseRef)
}

// parseExternalID reads externalID's format back.
func parseExternalID(s string) (repo string, pr int, base string, ok bool) {
	hash := strings.LastIndexByte(s, '#')
	if hash <= 0 {
		return "", 0, "", false
	}
	rest := s[hash+1:]
	at := strings.IndexByte(rest, '@')
	if at <= 0 || at == len(rest)-1 {
		return "", 0, "", false
	}
	n, err := strconv.Atoi(rest[:at])
	if err != nil || n <= 0 {
		return "", 0, "", false
	}
	return s[:hash], n, rest[at+1:], true
}

// supersededError is the cancel cause of a run replaced by a newer push.
type supersededError struct{ by string }

func (e *supersededError) Error() string {
	return fmt.Sprintf("superseded by a newer push (%s)", short(e.by))
}

// errPRClosed is the cancel cause of a run whose pull request was closed.
var errPRClosed = errors.New("the pull request was closed")

// errShutdown is the cancel cause of runs interrupted by a shutdown.
var errShutdown = errors.New("gate is shutting down; re-run the check")

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// Submit outcomes.
const (
	outcomeQueued    = "queued"
	outcomeDuplicate = "duplicate"
	outcomeStale     = "stale"
	outcomeFull      = "full"
)

// checkArgs is the River job of one pull-request head. River keeps one
// job per (repository, pull request, head) in any state but cancelled or
// discarded: a second delivery of the same push is not checked twice. A
// Re-run carries its delivery as Nonce, so it is a new job.
type checkArgs struct {
	Repo  string `json:"repo" river:"unique"`
	PR    int    `json:"pr" river:"unique"`
	Head  string `json:"head" river:"unique"`
	Nonce string `json:"nonce,omitempty" river:"unique"`
	Job   job    `json:"job"`
}

// Kind implements river.JobArgs.
func (checkArgs) Kind() string { return "gate_check" }

// enqueue commits j as a job (with its pull request's latest head in the
// same transaction) and returns the outcome. The webhook is answered
// only after it returns: a delivery answered 2xx is never lost.
func (a *App) enqueue(ctx context.Context, j *job) (string, error) {
	args := checkArgs{Repo: j.Repo, PR: j.PR, Head: j.HeadSHA, Job: *j}
	if j.Force {
		args.Nonce = j.Delivery
		if args.Nonce == "" {
			args.Nonce = strconv.FormatInt(time.Now().UnixNano(), 36)
		}
	}
	opts := &river.InsertOpts{MaxAttempts: a.cfg.JobAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
	stale := false
	pre := func(ctx context.Context, ex execer) (bool, error) {
		var ms int64
		if !j.EventTime.IsZero() {
			ms = j.EventTime.UnixMilli()
		}
		n, err := ex.exec(ctx, a.store.rebind(upsertHead), j.key, j.HeadSHA, ms, time.Now().UnixMilli())
		if err != nil {
			return false, fmt.Errorf("record the head of %s: %w", j.key, err)
		}
		stale = n == 0
		return !stale, nil
	}
	// The check runs of the environments known for the repository are
	// created queued before the commit (required checks show pending, not
	// "Expected"), for a new job only: never for a stale or duplicate
	// head, which pre and River's uniqueness turn away first.
	names := a.knownEnvs(ctx, j)
	var queued map[string]int64
	post := func(ctx context.Context) error {
		if len(names) > 0 {
			queued = a.announce(ctx, j, names)
		}
		if f := a.commitFault.Load(); f != nil {
			return (*f)()
		}
		return nil
	}
	inserted, _, err := a.store.q.insert(ctx, args, opts, pre, post)
	switch {
	case err != nil:
		if len(queued) > 0 {
			// No job will take them over: complete them now (or they
			// would stay queued forever).
			a.withdraw(ctx, j, queued, err)
		}
		return "", err
	case stale:
		return outcomeStale, nil
	}
	// A run of an older head on this replica stops now; on other replicas
	// at their next look (SupersedePoll).
	a.local.supersede(j.key, j.HeadSHA, &supersededError{by: j.HeadSHA})
	if !inserted {
		return outcomeDuplicate, nil
	}
	return outcomeQueued, nil
}

// checkWorker runs check jobs on whichever replica fetched them.
type checkWorker struct {
	river.WorkerDefaults[checkArgs]
	a *App
}

// Timeout is the run's own deadline plus the time to complete its check
// runs; River's default (a minute) would cut runs short.
func (w *checkWorker) Timeout(*river.Job[checkArgs]) time.Duration {
	return w.a.cfg.RunTimeout + 2*w.a.cfg.PublishTimeout
}

// NextRetry backs off exponentially from JobRetryBase up to JobRetryMax,
// with jitter: a GitHub outage of hours is waited out by the job.
func (w *checkWorker) NextRetry(rj *river.Job[checkArgs]) time.Time {
	d := w.a.cfg.JobRetryBase << min(max(rj.Attempt-1, 0), 20)
	if d <= 0 || d > w.a.cfg.JobRetryMax {
		d = w.a.cfg.JobRetryMax
	}
	return time.Now().Add(d/2 + rand.N(d/2+1))
}

// errRetry asks River to run the job again later (GitHub or git
// unavailable): the check runs stay as they are until then.
type errRetry struct{ err error }

func (e *errRetry) Error() string { return "will try again: " + e.err.Error() }
func (e *errRetry) Unwrap() error { return e.err }

// Work runs one job. It ends at once when a newer push or the pull
// request's closing came first, and is cancelled when one comes during
// the run, whichever replica records it.
func (w *checkWorker) Work(ctx context.Context, rj *river.Job[checkArgs]) error {
	a := w.a
	j := rj.Args.Job
	j.key = jobKey(j.Repo, j.PR)
	j.attempt, j.lastAttempt = rj.Attempt, rj.Attempt >= rj.MaxAttempts
	j.created = rj.CreatedAt
	j.rerun = rerun(rj)
	a.m.running.Inc()
	defer a.m.running.Dec()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer a.local.add(j.key, j.HeadSHA, cancel)()
	if reason := a.supersededBy(ctx, &j); reason != nil {
		a.m.runs.WithLabelValues("superseded").Inc()
		a.log.Info("job superseded before it ran", "repo", j.Repo, "pr", j.PR, "head", short(j.HeadSHA), "reason", reason)
		// The check runs created queued at webhook time, and those an
		// earlier attempt (one GitHub turned away, or one on a replica that
		// died) left open, end cancelled.
		a.closeLeftovers(ctx, &j, reason)
		return nil
	}
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		t := time.NewTicker(a.cfg.SupersedePoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if reason := a.supersededBy(ctx, &j); reason != nil {
					a.m.superseded.Inc()
					cancel(reason)
					return
				}
			}
		}
	}()
	err := a.process(ctx, &j)
	cancel(nil)
	<-watchDone
	if errors.Is(err, errHandedBack) {
		// A shutdown (a deploy) cut the run: its check runs stay open and
		// the job runs again on a replica that stays (or this one after its
		// restart), which takes them over. Snoozing does not count as an
		// attempt.
		return river.JobSnooze(time.Second)
	}
	return err
}

// errHandedBack is what process returns when a shutdown interrupted the
// run before its verdict was published: nothing was completed, the job
// goes back to the queue.
var errHandedBack = errors.New("the run was interrupted by a shutdown and handed back to the queue")

// handingBack says whether the run of ctx was cut by this replica's
// shutdown (not by a newer push, a closed pull request or its deadline):
// then its check runs are left open for the next attempt, never completed
// cancelled or failed.
func (a *App) handingBack(ctx context.Context) bool {
	if !a.stopping.Load() || !errors.Is(ctx.Err(), context.Canceled) {
		return false
	}
	var sup *supersededError
	return !errors.As(context.Cause(ctx), &sup) && !errors.Is(context.Cause(ctx), errPRClosed)
}

// rerun says whether rj ran before: a later attempt, or one snoozed (handed
// back by a shutdown).
func rerun(rj *river.Job[checkArgs]) bool {
	if rj.Attempt > 1 {
		return true
	}
	var md struct {
		Snoozes int `json:"snoozes"`
	}
	return json.Unmarshal(rj.Metadata, &md) == nil && md.Snoozes > 0
}

// supersededBy says why j should no longer run (a newer head, the pull
// request closed), or nil.
func (a *App) supersededBy(ctx context.Context, j *job) error {
	latest, ok, err := a.store.latestHead(ctx, j.key)
	if err != nil || !ok || latest == j.HeadSHA {
		return nil // the database is unreachable: keep running
	}
	if latest == "" {
		return errPRClosed
	}
	return &supersededError{by: latest}
}

// localRuns are the runs of this replica by pull request, so a delivery it
// takes cancels an older head's run at once.
type localRuns struct {
	mu sync.Mutex
	m  map[string]map[*localRun]bool
}

type localRun struct {
	head   string
	cancel context.CancelCauseFunc
}

// add registers a run and returns its removal.
func (l *localRuns) add(key, head string, cancel context.CancelCauseFunc) func() {
	r := &localRun{head: head, cancel: cancel}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]map[*localRun]bool{}
	}
	if l.m[key] == nil {
		l.m[key] = map[*localRun]bool{}
	}
	l.m[key][r] = true
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.m[key], r)
		if len(l.m[key]) == 0 {
			delete(l.m, key)
		}
	}
}

// supersede cancels the runs of key whose head is not head ("" : all).
func (l *localRuns) supersede(key, head string, cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for r := range l.m[key] {
		if head == "" || r.head != head {
			r.cancel(cause)
		}
	}
}
