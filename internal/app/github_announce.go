package app

import (
	"context"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/report"
)

// announce creates j's check runs queued for the environments names and
// returns those GitHub confirmed, by check-run name.
func (a *githubForge) announce(ctx context.Context, j *Job, names []string) map[string]int64 {
	log := a.log.With("delivery", j.Delivery, "repo", j.Repo, "pr", j.PR, "head", short(j.HeadSHA))
	if off := a.announceOff.Load(); off != 0 && time.Now().UnixNano() < off {
		// GitHub did not take the last webhook's creates at all (an outage,
		// a rate limit): do not hold this webhook's transaction (with SQLite,
		// the whole database) for the budget again.
		a.m.queuedAtWebhook.WithLabelValues("skipped").Add(float64(len(names)))
		log.Info("GitHub was unavailable at the last webhook; its check runs are created by the run")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, announceBudget)
	defer cancel()
	ctx = context.WithValue(context.WithValue(ctx, noRetry{}, true), inTx{}, true)
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
		// unavailable counts failures GitHub may get over (5xx, rate
		// limits, timeouts), as opposed to refusals.
		unavailable int
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
				if worthRetrying(err) {
					unavailable++
				}
				return
			}
			out[name] = cr.GetID()
		}()
	}
	wg.Wait()
	a.m.queuedAtWebhook.WithLabelValues("created").Add(float64(len(out)))
	if len(out) == 0 && unavailable == len(names) {
		a.announceOff.Store(time.Now().Add(announceCooloff).UnixNano())
	} else if len(out) > 0 {
		a.announceOff.Store(0)
	}
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
func (a *githubForge) withdraw(ctx context.Context, j *Job, ids map[string]int64, cause error) {
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
