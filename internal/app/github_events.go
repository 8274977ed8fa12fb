package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/palantir/go-githubapp/githubapp"
)

// The webhook payloads are decoded into the few fields gate needs, not
// into go-github's full event types: a field gate does not use (a
// timestamp in an unexpected format) must not make a delivery fail.
type repoPayload struct {
	FullName string `json:"full_name"`
	Name     string `json:"name"`
	CloneURL string `json:"clone_url"`
	HTMLURL  string `json:"html_url"`
	Owner    struct {
		Login string `json:"login"`
	} `json:"owner"`
}

type installationPayload struct {
	ID int64 `json:"id"`
}

type refPayload struct {
	Ref string `json:"ref"`
	SHA string `json:"sha"`
}

type prPayload struct {
	Number    int        `json:"number"`
	HTMLURL   string     `json:"html_url"`
	State     string     `json:"state"`
	UpdatedAt string     `json:"updated_at"`
	Head      refPayload `json:"head"`
	Base      refPayload `json:"base"`
}

type pullRequestEvent struct {
	Action  string `json:"action"`
	Changes struct {
		Base *struct{} `json:"base"`
	} `json:"changes"`
	Number       int                 `json:"number"`
	PullRequest  prPayload           `json:"pull_request"`
	Repository   repoPayload         `json:"repository"`
	Installation installationPayload `json:"installation"`
}

type checkSuitePayload struct {
	HeadSHA      string      `json:"head_sha"`
	HeadBranch   string      `json:"head_branch"`
	UpdatedAt    string      `json:"updated_at"`
	PullRequests []prPayload `json:"pull_requests"`
}

type checkSuiteEvent struct {
	Action       string              `json:"action"`
	CheckSuite   checkSuitePayload   `json:"check_suite"`
	Repository   repoPayload         `json:"repository"`
	Installation installationPayload `json:"installation"`
}

type checkRunEvent struct {
	Action   string `json:"action"`
	CheckRun struct {
		ID           int64             `json:"id"`
		Name         string            `json:"name"`
		ExternalID   string            `json:"external_id"`
		HeadSHA      string            `json:"head_sha"`
		PullRequests []prPayload       `json:"pull_requests"`
		CheckSuite   checkSuitePayload `json:"check_suite"`
	} `json:"check_run"`
	RequestedAction *struct {
		Identifier string `json:"identifier"`
	} `json:"requested_action"`
	Repository   repoPayload         `json:"repository"`
	Installation installationPayload `json:"installation"`
}

type installationEvent struct {
	Action       string `json:"action"`
	Installation struct {
		ID      int64 `json:"id"`
		Account struct {
			Login string `json:"login"`
		} `json:"account"`
	} `json:"installation"`
	Repositories      []repoPayload `json:"repositories"`
	RepositoriesAdded []repoPayload `json:"repositories_added"`
}

// rerunAction is the identifier of the "Re-run" button on gate's check runs.
const rerunAction = "rerun"

// handler routes one event type to the App; go-githubapp's dispatcher
// calls it after checking the signature.
type handler struct {
	a      *githubForge
	events []string
}

var _ githubapp.EventHandler = (*handler)(nil)

func (h *handler) Handles() []string { return h.events }

func (h *handler) Handle(ctx context.Context, event, delivery string, payload []byte) error {
	return h.a.handleEvent(ctx, event, delivery, payload)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// handleEvent turns a verified delivery into queued jobs. It never blocks
// on GitHub or git: the answer goes back within GitHub's 10 s.
func (a *githubForge) handleEvent(ctx context.Context, event, delivery string, payload []byte) error {
	log := a.log.With("delivery", delivery, "event", event)
	switch event {
	case "pull_request":
		var e pullRequestEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			a.m.webhooks.WithLabelValues(event, "", "invalid").Inc()
			return fmt.Errorf("decode pull_request payload: %w", err)
		}
		log = log.With("action", e.Action, "repo", e.Repository.FullName, "pr", e.PullRequest.Number)
		switch e.Action {
		case "opened", "synchronize", "reopened", "ready_for_review":
			j := a.newJob(e.Repository, e.Installation.ID, e.PullRequest, delivery, event+"."+e.Action)
			j.Force = e.Action == "reopened"
			return a.submit(ctx, log, j, event, e.Action)
		case "edited":
			if e.Changes.Base == nil {
				a.m.webhooks.WithLabelValues(event, e.Action, "ignored").Inc()
				return nil
			}
			// The base branch changed: same head, a new comparison.
			j := a.newJob(e.Repository, e.Installation.ID, e.PullRequest, delivery, event+"."+e.Action)
			j.Force = true
			return a.submit(ctx, log, j, event, e.Action)
		case "closed":
			if err := a.Closed(ctx, e.Repository.FullName, e.PullRequest.Number); err != nil {
				return err
			}
			a.m.webhooks.WithLabelValues(event, e.Action, "cancelled").Inc()
		default:
			a.m.webhooks.WithLabelValues(event, e.Action, "ignored").Inc()
		}
	case "check_suite":
		var e checkSuiteEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			a.m.webhooks.WithLabelValues(event, "", "invalid").Inc()
			return fmt.Errorf("decode check_suite payload: %w", err)
		}
		log = log.With("action", e.Action, "repo", e.Repository.FullName, "head", e.CheckSuite.HeadSHA)
		if e.Action != "requested" && e.Action != "rerequested" {
			a.m.webhooks.WithLabelValues(event, e.Action, "ignored").Inc()
			return nil
		}
		return a.fromSuite(ctx, log, e.Repository, e.Installation.ID, e.CheckSuite, delivery, event, e.Action, e.Action == "rerequested")
	case "check_run":
		var e checkRunEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			a.m.webhooks.WithLabelValues(event, "", "invalid").Inc()
			return fmt.Errorf("decode check_run payload: %w", err)
		}
		log = log.With("action", e.Action, "repo", e.Repository.FullName, "head", e.CheckRun.HeadSHA, "check_run", e.CheckRun.ID)
		switch {
		case e.Action == "rerequested":
		case e.Action == "requested_action" && e.RequestedAction != nil && e.RequestedAction.Identifier == rerunAction:
		default:
			a.m.webhooks.WithLabelValues(event, e.Action, "ignored").Inc()
			return nil
		}
		suite := e.CheckRun.CheckSuite
		suite.HeadSHA = e.CheckRun.HeadSHA
		if len(e.CheckRun.PullRequests) > 0 {
			suite.PullRequests = e.CheckRun.PullRequests
		} else if repo, pr, base, ok := parseExternalID(e.CheckRun.ExternalID); ok && repo == e.Repository.FullName {
			// GitHub lists no pull requests on check runs of forks' heads;
			// gate's external_id names the pull request and its base.
			var p prPayload
			p.Number, p.Head.SHA, p.Base.Ref = pr, e.CheckRun.HeadSHA, base
			suite.PullRequests = []prPayload{p}
		}
		return a.fromSuite(ctx, log, e.Repository, e.Installation.ID, suite, delivery, event, e.Action, true)
	case "installation", "installation_repositories":
		var e installationEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			a.m.webhooks.WithLabelValues(event, "", "invalid").Inc()
			return fmt.Errorf("decode %s payload: %w", event, err)
		}
		n := len(e.Repositories) + len(e.RepositoriesAdded)
		log.Info("installation changed", "action", e.Action, "installation", e.Installation.ID, "account", e.Installation.Account.Login, "repositories", n)
		if e.Action == "deleted" || e.Action == "suspend" {
			a.tokens.forget(e.Installation.ID)
		}
		a.m.webhooks.WithLabelValues(event, e.Action, "handled").Inc()
	default:
		a.m.webhooks.WithLabelValues(event, "", "ignored").Inc()
	}
	return nil
}

// fromSuite queues the pull requests of a check suite. A suite with no
// pull request (a push to a branch with none open) has nothing to gate.
func (a *githubForge) fromSuite(ctx context.Context, log *slog.Logger, repo repoPayload, inst int64, s checkSuitePayload, delivery, event, action string, force bool) error {
	if len(s.PullRequests) == 0 && event == "check_suite" && force && shaRe.MatchString(s.HeadSHA) && inst > 0 &&
		repoNameRe.MatchString(repo.FullName) && repo.FullName == repo.Owner.Login+"/"+repo.Name {
		// "Re-run all checks" on a fork's head: GitHub lists no pull
		// requests; gate's own check runs on the head name them. Looking
		// them up calls GitHub, so the resolver does it after the answer.
		var p prPayload
		p.Head.SHA = s.HeadSHA
		j := a.newJob(repo, inst, p, delivery, event+"."+action)
		select {
		case a.resolveQ <- j:
			a.resolving.Add(1)
			a.m.webhooks.WithLabelValues(event, action, "resolving").Inc()
			return nil
		default:
			a.m.webhooks.WithLabelValues(event, action, outcomeFull).Inc()
			return githubapp.ErrCapacityExceeded
		}
	}
	if len(s.PullRequests) == 0 {
		log.Info("no pull request for this head; nothing to gate")
		a.m.webhooks.WithLabelValues(event, action, "ignored").Inc()
		return nil
	}
	var errs []error
	for _, pr := range s.PullRequests {
		if pr.Head.SHA == "" {
			pr.Head.SHA = s.HeadSHA
		}
		// A suite's updated_at is not when the head was pushed; only
		// pull_request deliveries order pushes.
		pr.UpdatedAt = ""
		j := a.newJob(repo, inst, pr, delivery, event+"."+action)
		j.Force = force
		errs = append(errs, a.submit(ctx, log.With("pr", pr.Number), j, event, action))
	}
	return errors.Join(errs...)
}

func (a *githubForge) newJob(repo repoPayload, inst int64, pr prPayload, delivery, trigger string) *Job {
	owner := repo.Owner.Login
	name := repo.Name
	return &Job{
		key:          jobKey(repo.FullName, pr.Number),
		Repo:         repo.FullName,
		Owner:        owner,
		Name:         name,
		CloneURL:     repo.CloneURL,
		HTMLURL:      repo.HTMLURL,
		Installation: inst,
		PR:           pr.Number,
		HeadSHA:      pr.Head.SHA,
		BaseRef:      pr.Base.Ref,
		BaseSHA:      pr.Base.SHA,
		EventTime:    parseTime(pr.UpdatedAt),
		Delivery:     delivery,
		Trigger:      trigger,
	}
}

func jobKey(repo string, pr int) string { return fmt.Sprintf("%s#%d", repo, pr) }

// resolver finds the pull requests of re-requested suites one at a time
// until ctx ends.
func (a *githubForge) resolver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-a.resolveQ:
			a.resolveSuite(ctx, a.log.With("delivery", j.Delivery, "repo", j.Repo, "head", short(j.HeadSHA)), j)
			a.resolving.Add(-1)
		}
	}
}

// resolveSuite queues the pull requests named by the external_id of
// gate's check runs on head: a re-requested suite of a fork's head comes
// without pull requests.
func (a *githubForge) resolveSuite(ctx context.Context, log *slog.Logger, j *Job) {
	repo := repoPayload{FullName: j.Repo, Name: j.Name, CloneURL: j.CloneURL, HTMLURL: j.HTMLURL}
	repo.Owner.Login = j.Owner
	inst, head, delivery := j.Installation, j.HeadSHA, j.Delivery
	event, action, _ := strings.Cut(j.Trigger, ".")
	ctx, cancel := context.WithTimeout(ctx, a.cfg.PublishTimeout)
	defer cancel()
	gh, err := a.client(inst)
	if err != nil {
		log.Error("no GitHub client for the installation", "err", err)
		return
	}
	res, _, err := gh.Checks.ListCheckRunsForRef(ctx, repo.Owner.Login, repo.Name, head,
		&github.ListCheckRunsOptions{Filter: github.String("all"), ListOptions: github.ListOptions{PerPage: 100}})
	if err != nil {
		log.Error("could not list the head's check runs to find its pull request", "err", err)
		return
	}
	seen := map[string]bool{}
	for _, cr := range res.CheckRuns {
		r, pr, base, ok := parseExternalID(cr.GetExternalID())
		if !ok || r != repo.FullName || seen[cr.GetExternalID()] {
			continue
		}
		seen[cr.GetExternalID()] = true
		var p prPayload
		p.Number, p.Head.SHA, p.Base.Ref = pr, head, base
		j := a.newJob(repo, inst, p, delivery, event+"."+action)
		j.Force = true
		_ = a.submit(ctx, log.With("pr", pr), j, event, action)
	}
	if len(seen) == 0 {
		log.Info("no pull request for this head; nothing to gate")
	}
}
