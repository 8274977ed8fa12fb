package app

import (
	"context"
	"sort"
	"time"

	"github.com/gate-ops/gate/checks"
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
//     missing); after a webhook whose creates all failed that way, the
//     next ones skip them for announceCooloff;
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

// announceCooloff is how long webhooks skip the queued creates after
// GitHub failed all of one webhook's (5xx, timeouts, rate limits): during
// an outage a webhook does not hold its transaction for announceBudget.
const announceCooloff = 30 * time.Second

// maxAnnounced bounds the environments remembered for a repository: the
// plan comes from a pull request's head, whose gate.yaml is the author's.
const maxAnnounced = 32

// knownEnvs returns the environments of the repository's last plan (nil
// when never planned or the database did not answer).
func (a *App) knownEnvs(ctx context.Context, j *Job) []string {
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
