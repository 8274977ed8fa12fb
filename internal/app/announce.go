package app

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/report"
)

// Check runs created queued when the webhook arrives.
//
// Branch protection shows a required check that has no check run on the
// head as "Expected"; gate's environment check runs would otherwise appear
// only once a worker has fetched the head and planned the run (seconds
// when workers are free, minutes under a backlog). So the webhook handler
// creates them queued itself, for the environments of the repository's
// last plan (kept in the database), before the job is committed, in the
// same transaction's shadow (see enqueue):
//
//   - only for a new job: a stale head (an older push) and a duplicate
//     delivery are turned away by the transaction first, and the
//     transaction holds the pull request's row while the creates run, so
//     two deliveries of the same head cannot both create them;
//   - best effort: one attempt per check run (no retries), all within
//     announceBudget; a GitHub outage costs the queued check runs, never
//     the webhook (the job is committed either way and creates what is
//     missing);
//   - the job takes them over by external_id (it lists the head's open
//     check runs before creating any) and completes those of untouched
//     environments neutral in one request; those of environments its plan
//     no longer has are completed neutral too;
//   - when the commit fails (the webhook is answered 503), withdraw
//     completes them at once, so none stays queued.
//
// A repository gate never planned gets nothing at webhook time: its check
// runs appear when the first job runs. Branch protection can only require
// a check that has run once on the repository, so no required check of
// gate's can be "Expected" before that.

// announceBudget bounds the queued creates of one webhook (they run in
// parallel, one attempt each).
const announceBudget = 2 * time.Second

// maxAnnounced bounds the environments remembered for a repository: the
// plan comes from a pull request's head, whose gate.yaml is the author's.
const maxAnnounced = 32

// knownEnvs returns the environments of the repository's last plan (nil
// when never planned or the database did not answer).
func (a *App) knownEnvs(ctx context.Context, j *job) []string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	names, err := a.store.envNames(ctx, j.Repo)
	if err != nil {
		a.log.Warn("could not read the repository's environments; no check runs created at webhook time", "repo", j.Repo, "err", err)
		return nil
	}
	return names
}

// rememberEnvs keeps the environments of a plan for the next webhooks of
// the repository.
func (a *App) rememberEnvs(ctx context.Context, repo string, envs []checks.Env) {
	names := make([]string, 0, len(envs))
	for _, e := range envs {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	if len(names) > maxAnnounced {
		names = names[:maxAnnounced]
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.store.putEnvNames(ctx, repo, names); err != nil {
		a.log.Warn("could not remember the repository's environments", "repo", repo, "err", err)
	}
}

// announce creates j's check runs queued for the environments names and
// returns those GitHub confirmed, by check-run name.
func (a *App) announce(ctx context.Context, j *job, names []string) map[string]int64 {
	log := a.log.With("delivery", j.Delivery, "repo", j.Repo, "pr", j.PR, "head", short(j.HeadSHA))
	ctx, cancel := context.WithTimeout(ctx, announceBudget)
	defer cancel()
	ctx = context.WithValue(ctx, noRetry{}, true)
	gh, err := a.client(j.Installation)
	if err != nil {
		log.Warn("no GitHub client for the installation; no check runs created at webhook time", "err", err)
		return nil
	}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		out    = map[string]int64{}
		failed int
	)
	for _, env := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := report.CheckRunName(env)
			cr, _, err := gh.Checks.CreateCheckRun(ctx, j.Owner, j.Name, github.CreateCheckRunOptions{
				Name: name, HeadSHA: j.HeadSHA, Status: github.String("queued"),
				ExternalID: github.String(j.externalID()), DetailsURL: github.String(a.detailsURL(j, env)),
				Output: &github.CheckRunOutput{Title: github.String("Queued"),
					Summary: github.String("gate will render and check environment " + escape.Code(env) + " once a worker takes this push.")},
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			out[name] = cr.GetID()
		}()
	}
	wg.Wait()
	a.m.queuedAtWebhook.WithLabelValues("created").Add(float64(len(out)))
	if failed > 0 {
		// The job creates what is missing (and takes over a create GitHub
		// carried out with its answer lost).
		a.m.queuedAtWebhook.WithLabelValues("failed").Add(float64(failed))
		log.Warn("some check runs could not be created at webhook time; the run creates them", "created", len(out), "failed", failed)
	} else {
		log.Info("check runs created queued", "count", len(out))
	}
	return out
}

// withdraw completes the check runs announce created for a job that was
// not committed: the webhook is answered 503 and nothing would ever take
// them over. What GitHub does not take now is sent again later
// (completions).
func (a *App) withdraw(ctx context.Context, j *job, ids map[string]int64, cause error) {
	log := a.log.With("delivery", j.Delivery, "repo", j.Repo, "pr", j.PR, "head", short(j.HeadSHA))
	log.Warn("the job was not committed; completing the check runs created for it", "err", cause)
	gh, err := a.client(j.Installation)
	if err != nil {
		log.Error("no GitHub client for the installation", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for name, id := range ids {
		// The database error is not shown: it may name hosts.
		cr := report.ErrorCheckRun(envOfCheckRun(name), report.ConclusionFailure,
			"gate could not record this push in its queue (its database did not answer). Push again, redeliver the webhook or press Re-run.")
		c := &completion{j: j, cr: cr, id: id, at: time.Now()}
		if err := a.send(ctx, gh, c); err != nil {
			a.completions.add(c, err, log)
		}
	}
	a.m.queuedAtWebhook.WithLabelValues("withdrawn").Add(float64(len(ids)))
}
