package app

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gate-ops/gate/checks"
)

// The App is two parts. The forge-independent part (app.go, queue.go,
// run.go, store.go, announce.go: the queue, the fetch, the run) knows
// jobs, revisions and reports; the forge adapter turns the forge's events
// into jobs and reports into the forge's check runs, and hands out the
// tokens git fetches with. GitHub's adapter is the github*.go files (and
// the only files that import go-github, TestOnlyTheGitHubAdapterImportsGoGitHub);
// another forge is one more adapter behind Forge, wired in through
// Config.Forge.

// Forge is a code host as the forge-independent part sees it.
type Forge interface {
	// Checks opens the check runs of one job (one head of one pull
	// request) for its run.
	Checks(ctx context.Context, j *Job, log *slog.Logger) (Checks, error)
	// Announce creates the check runs of the environments names queued
	// for a job about to be committed (the webhook is not answered yet):
	// best effort, bounded, never retried. It returns what completes them
	// when the commit fails (nil: nothing to do).
	Announce(ctx context.Context, j *Job, names []string) (withdraw func(ctx context.Context, cause error))
	// GitToken returns the credential git fetches j's repository with;
	// fresh asks for a new one (the host refused the last).
	GitToken(ctx context.Context, j *Job, fresh bool) (string, error)
	// Transient says whether an error of the forge's API is worth
	// another attempt of the job later (an outage, a rate limit).
	Transient(err error) bool
	// Run does the forge's background work (writes it owes, events it
	// resolves) until ctx ends; Flush tries what it owes once more;
	// Pending counts it (Idle).
	Run(ctx context.Context)
	Flush(ctx context.Context)
	Pending() int
}

// Checks are one job's check runs on the forge: one per environment.
// Every method leaves nothing in progress that no later call completes.
type Checks interface {
	// Published says whether an earlier attempt of the job already
	// completed its check runs (the job is re-run after a crash).
	Published(ctx context.Context) (bool, error)
	// Create creates (or takes over, from Announce or an earlier attempt)
	// the check runs of envs, in progress; those untouched reports
	// (may be nil) are completed neutral at once.
	Create(ctx context.Context, envs []checks.Env, untouched *checks.Report) error
	// Publish completes every check run with the report; false when some
	// could not be sent yet (they are sent later).
	Publish(ctx context.Context, rep *checks.Report) bool
	// Fail completes the check runs with the reason the run could not
	// finish (cancelled when ctx was cancelled with a cause).
	Fail(ctx context.Context, err error)
	// Keep leaves the check runs as they are for the job's next attempt.
	Keep()
	// Close completes, cancelled with reason, the check runs left open
	// on the head (announced, or by an earlier attempt) by a job that
	// will not run.
	Close(ctx context.Context, reason error)
	// Done ends the run (GitHub: completes check runs whose create
	// answer was lost).
	Done(ctx context.Context)
}

// Webhooks is a Forge that receives its events over HTTP: Handler mounts
// it at POST path.
type Webhooks interface {
	Webhook() (path string, h http.Handler)
}
