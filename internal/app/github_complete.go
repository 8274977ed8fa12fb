package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/report"
)

// completion is the final state of one check run on its way to GitHub:
// the completing request, then the further annotation batches. next says
// how far it got, so a retry never sends a batch twice (GitHub appends
// annotations).
type completion struct {
	j       *Job
	cr      *report.CheckRun
	details string
	// id is the check run's id; 0 until a completed one is created.
	id int64
	// next is the next step: 0 completes, i > 0 sends batch i.
	next int
	// at is when the run finished: completed_at, and the retry deadline.
	at    time.Time
	tries int
}

// send takes c from step c.next to the end. Every write that adds
// annotations or creates a check run is sent at most once per answer: a
// failed one is followed by a look at what GitHub holds (status,
// conclusion, output.annotations_count; the check run by external_id and
// name) and only what is missing is sent again, so a lost answer never
// doubles annotations or check runs.
func (a *githubForge) send(ctx context.Context, gh *github.Client, c *completion) error {
	cr, j := c.cr, c.j
	// expected is the annotation count once batch i is applied.
	expected := func(i int) int {
		n := 0
		for k := 0; k <= i && k < len(cr.Batches); k++ {
			n += len(cr.Batches[k])
		}
		return n
	}
	if c.id != 0 && c.tries > 0 {
		// Sent before and failed: start from what GitHub holds.
		if got, _, err := gh.Checks.GetCheckRun(ctx, j.Owner, j.Name, c.id); err == nil {
			c.sync(got, expected)
		}
	}
	if c.next == 0 {
		out := &github.CheckRunOutput{Title: github.String(cr.Output.Title), Summary: github.String(cr.Output.Summary)}
		if cr.Output.Text != "" {
			out.Text = github.String(cr.Output.Text)
		}
		if len(cr.Batches) > 0 {
			out.Annotations = toAnnotations(cr.Batches[0])
		}
		when := &github.Timestamp{Time: c.at}
		var actions []*github.CheckRunAction
		if cr.Conclusion != report.ConclusionSuccess && cr.Conclusion != report.ConclusionNeutral {
			actions = []*github.CheckRunAction{{Label: "Re-run", Description: "Check this pull request again", Identifier: rerunAction}}
		}
		var du *string
		if c.details != "" {
			du = github.String(c.details)
		}
		if c.id == 0 {
			err := a.write(ctx, func(ctx context.Context) error {
				created, _, err := gh.Checks.CreateCheckRun(ctx, j.Owner, j.Name, github.CreateCheckRunOptions{
					Name: cr.Name, HeadSHA: j.HeadSHA, Status: github.String("completed"), Conclusion: github.String(cr.Conclusion),
					StartedAt: when, CompletedAt: when, ExternalID: github.String(j.externalID()), DetailsURL: du, Output: out, Actions: actions,
				})
				if err == nil {
					c.id = created.GetID()
				}
				return err
			}, func(ctx context.Context) (bool, error) {
				got, err := findRun(ctx, gh, j, cr.Name, func(r *github.CheckRun) bool {
					return r.GetStatus() == "completed" && r.GetConclusion() == cr.Conclusion && r.GetCompletedAt().Unix() == c.at.Unix()
				})
				if got != nil {
					c.id = got.GetID()
				}
				return got != nil, err
			})
			if err != nil {
				return fmt.Errorf("create completed check run %q: %w", cr.Name, err)
			}
		} else {
			err := a.write(ctx, func(ctx context.Context) error {
				_, _, err := gh.Checks.UpdateCheckRun(ctx, j.Owner, j.Name, c.id, github.UpdateCheckRunOptions{
					Name: cr.Name, Status: github.String("completed"), Conclusion: github.String(cr.Conclusion), CompletedAt: when,
					DetailsURL: du, Output: out, Actions: actions,
				})
				return err
			}, func(ctx context.Context) (bool, error) {
				got, _, err := gh.Checks.GetCheckRun(ctx, j.Owner, j.Name, c.id)
				if err != nil {
					return false, err
				}
				return got.GetStatus() == "completed" && got.GetConclusion() == cr.Conclusion && got.GetOutput().GetAnnotationsCount() >= expected(0), nil
			})
			if err != nil {
				return fmt.Errorf("complete check run %q: %w", cr.Name, err)
			}
		}
		a.m.checkRuns.WithLabelValues(cr.Conclusion).Inc()
		c.next = 1
	}
	for ; c.next < len(cr.Batches); c.next++ {
		i := c.next
		err := a.write(ctx, func(ctx context.Context) error {
			_, _, err := gh.Checks.UpdateCheckRun(ctx, j.Owner, j.Name, c.id, github.UpdateCheckRunOptions{
				Name: cr.Name, Output: &github.CheckRunOutput{Title: github.String(cr.Output.Title), Summary: github.String(cr.Output.Summary), Annotations: toAnnotations(cr.Batches[i])},
			})
			return err
		}, func(ctx context.Context) (bool, error) {
			got, _, err := gh.Checks.GetCheckRun(ctx, j.Owner, j.Name, c.id)
			if err != nil {
				return false, err
			}
			return got.GetOutput().GetAnnotationsCount() >= expected(i), nil
		})
		if err != nil {
			return fmt.Errorf("add annotation batch %d of %d to %q: %w", c.next+1, len(cr.Batches), cr.Name, err)
		}
	}
	return nil
}

// sync moves c.next past the steps GitHub already holds.
func (c *completion) sync(got *github.CheckRun, expected func(int) int) {
	if got.GetStatus() != "completed" || got.GetConclusion() != c.cr.Conclusion {
		return
	}
	n := got.GetOutput().GetAnnotationsCount()
	next := 1
	for next < len(c.cr.Batches) && n >= expected(next) {
		next++
	}
	if n >= expected(0) && next > c.next {
		c.next = next
	}
}

// noRetry marks a request the transport must not repeat on its own.
type noRetry struct{}

// write runs do, a write GitHub must apply once, without the transport's
// retries; after a failure worth retrying it waits (Retry-After or
// backoff), asks applied whether GitHub took it after all (a lost answer),
// and sends it again only if not.
func (a *githubForge) write(ctx context.Context, do func(context.Context) error, applied func(context.Context) (bool, error)) error {
	attempts := max(a.cfg.Retries, 1)
	for i := 0; ; i++ {
		err := do(context.WithValue(ctx, noRetry{}, true))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !worthRetrying(err) || i+1 >= attempts {
			return err
		}
		wait := a.cfg.RetryBase << i
		wait = wait/2 + rand.N(wait/2+1)
		var abuse *github.AbuseRateLimitError
		if errors.As(err, &abuse) && abuse.RetryAfter != nil {
			wait = max(wait, *abuse.RetryAfter)
		}
		if wait > a.cfg.MaxRetryWait {
			return err
		}
		a.m.apiRetries.WithLabelValues("write").Inc()
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		if ok, lerr := applied(ctx); lerr == nil && ok {
			return nil
		}
	}
}

// findRun returns the head's check run of j's pull request named name
// that match accepts, or nil.
func findRun(ctx context.Context, gh *github.Client, j *Job, name string, match func(*github.CheckRun) bool) (*github.CheckRun, error) {
	ext := j.externalID()
	opts := &github.ListCheckRunsOptions{CheckName: github.String(name), Filter: github.String("all"), ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < 10; page++ {
		res, resp, err := gh.Checks.ListCheckRunsForRef(ctx, j.Owner, j.Name, j.HeadSHA, opts)
		if err != nil {
			return nil, err
		}
		for _, r := range res.CheckRuns {
			if r.GetExternalID() == ext && r.GetName() == name && match(r) {
				return r, nil
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, nil
}

// worthRetrying tells a failure GitHub may get over (5xx, rate limits, a
// network or timeout error) from a refusal it will repeat (401, 404, 422:
// the installation is gone, the check run or the request is wrong), which
// is not kept for later.
func worthRetrying(err error) bool {
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &rl), errors.As(err, &abuse):
		return true
	case errors.As(err, &er) && er.Response != nil:
		c := er.Response.StatusCode
		return c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout
	}
	return true
}

// completions holds check-run completions GitHub did not take, to send
// again until they go through or are too old. It is bounded: past max,
// the oldest are dropped (and logged).
type completions struct {
	mu  sync.Mutex
	max int
	l   []*completion
	// sending counts completions taken out and being sent.
	sending int
	m       *metrics
}

func (cs *completions) add(c *completion, err error, log *slog.Logger) {
	if !worthRetrying(err) {
		log.Error("GitHub refused a check-run completion; not trying again", "check_run", c.cr.Name, "err", err)
		cs.m.lateCompletions.WithLabelValues("refused").Inc()
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.l = append(cs.l, c)
	if len(cs.l) > cs.max {
		old := cs.l[0]
		cs.l = cs.l[1:]
		log.Error("dropping a check-run completion: too many waiting", "repo", old.j.Repo, "pr", old.j.PR, "check_run", old.cr.Name)
		cs.m.lateCompletions.WithLabelValues("dropped").Inc()
	}
	cs.m.pendingCompletions.Set(float64(len(cs.l)))
}

func (cs *completions) take() []*completion {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	l := cs.l
	cs.l = nil
	cs.sending += len(l)
	return l
}

// sent marks one taken completion done (sent, re-added or given up).
func (cs *completions) sent() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.sending--
}

// len counts the waiting completions and those being sent.
func (cs *completions) len() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.l) + cs.sending
}

// retryCompletions sends the waiting completions every interval until ctx ends.
func (a *githubForge) retryCompletions(ctx context.Context) {
	t := time.NewTicker(a.cfg.CompletionRetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.flushCompletions(ctx)
		}
	}
}

// flushCompletions tries every waiting completion once.
func (a *githubForge) flushCompletions(ctx context.Context) {
	list := a.completions.take()
	for _, c := range list {
		a.flushOne(ctx, c)
		a.completions.sent()
	}
	a.m.pendingCompletions.Set(float64(a.completions.len()))
}

func (a *githubForge) flushOne(ctx context.Context, c *completion) {
	log := a.log.With("repo", c.j.Repo, "pr", c.j.PR, "head", short(c.j.HeadSHA), "check_run", c.cr.Name, "delivery", c.j.Delivery)
	if time.Since(c.at) > a.cfg.CompletionRetryFor {
		log.Error("giving up completing a check run", "tries", c.tries)
		a.m.lateCompletions.WithLabelValues("given_up").Inc()
		return
	}
	c.tries++
	err := ctx.Err()
	if err == nil {
		var gh *github.Client
		if gh, err = a.client(c.j.Installation); err == nil {
			sctx, cancel := context.WithTimeout(ctx, a.cfg.PublishTimeout)
			err = a.send(sctx, gh, c)
			cancel()
		}
	}
	if err != nil {
		a.completions.add(c, err, log)
		return
	}
	log.Info("check run completed late", "tries", c.tries, "late", time.Since(c.at).Round(time.Second))
	a.m.lateCompletions.WithLabelValues("completed").Inc()
}

// sweep completes check runs of this run that GitHub has but gate lost
// track of: a create request GitHub carried out while its answer was lost
// (a timed-out attempt the transport retried, a cut connection). They are
// found by the run's external_id on the head commit and completed
// cancelled, so none is left queued.
func (p *publisher) Done(ctx context.Context) {
	if !p.attempted {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.a.cfg.PublishTimeout)
	defer cancel()
	known := map[int64]bool{}
	for _, id := range p.ids {
		known[id] = true
	}
	ext := p.j.externalID()
	opts := &github.ListCheckRunsOptions{Filter: github.String("all"), ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < 10; page++ {
		res, resp, err := p.gh.Checks.ListCheckRunsForRef(ctx, p.j.Owner, p.j.Name, p.j.HeadSHA, opts)
		if err != nil {
			p.log.Warn("could not list the head's check runs to find lost ones", "err", err)
			return
		}
		for _, cr := range res.CheckRuns {
			if cr.GetExternalID() != ext || known[cr.GetID()] || cr.GetStatus() == "completed" {
				continue
			}
			p.log.Warn("completing a check run gate lost track of", "check_run", cr.GetName(), "id", cr.GetID())
			lost := report.ErrorCheckRun("", report.ConclusionCancelled, "gate lost track of this check run when its creation was interrupted; the check run of the same name created next to it has the result.")
			if d := p.done[cr.GetName()]; d != nil {
				// A duplicate must not show another verdict than the real
				// run, whichever GitHub lists as the latest: the same
				// conclusion and title, no annotations (they are on the
				// real one).
				lost = &report.CheckRun{Conclusion: d.Conclusion, Output: report.CheckRunOutput{Title: d.Output.Title,
					Summary: "## " + escape.Markdown(d.Output.Title) + "\n\nThis is a duplicate gate created when GitHub did not answer; the check run of the same name next to it has the full report and annotations.\n"}}
			}
			lost.Name = cr.GetName()
			c := &completion{j: p.j, cr: lost, id: cr.GetID(), at: time.Now()}
			if err := p.a.send(ctx, p.gh, c); err != nil {
				p.a.completions.add(c, err, p.log)
			}
			p.a.m.lostCheckRuns.Inc()
		}
		if resp == nil || resp.NextPage == 0 {
			return
		}
		opts.Page = resp.NextPage
	}
}
