package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/internal/app"
	"github.com/gate-ops/gate/internal/testing/apptest"
	"github.com/gate-ops/gate/internal/testing/githubfake"
)

func TestFaultsStillCompleteEveryCheckRun(t *testing.T) {
	w := newWorld(t, nil, func(c *app.Config) { c.AttemptTimeout = time.Second })
	w.Fake.SetFaults(func(op string, n int) *githubfake.Fault {
		switch {
		case op == "checks/update" && n == 1:
			return &githubfake.Fault{Delay: 3 * time.Second} // past the 1s attempt timeout: retried
		case op == "apps/create-installation-access-token" && n == 1:
			return &githubfake.Fault{Status: http.StatusBadGateway}
		case op == "checks/create" && n%3 == 1:
			return &githubfake.Fault{Status: http.StatusBadGateway}
		case op == "checks/update" && n == 2:
			return &githubfake.Fault{Status: http.StatusForbidden, RetryAfter: time.Second}
		case op == "checks/update" && n%4 == 3:
			return &githubfake.Fault{Status: http.StatusServiceUnavailable}
		case op == "checks/update" && n%5 == 4:
			return &githubfake.Fault{Delay: 300 * time.Millisecond}
		}
		return nil
	})
	files, _ := remoteBase(w)
	head := w.Repo.Commit(w.Repo.Main, files, "break prod")
	w.Repo.SetRef("refs/pull/11/head", head)
	start := time.Now()
	w.Deliver("pull_request", w.PullRequest("opened", 11, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(2 * time.Minute)
	runs := w.RunsFor(head)
	if len(runs) != 3 {
		t.Fatalf("want 3 check runs, got %v", names(runs))
	}
	if runs["gate / prod"].Conclusion != "failure" {
		t.Errorf("gate / prod concluded %q under faults, want failure", runs["gate / prod"].Conclusion)
	}
	assertCompleted(t, w.Fake)
	if time.Since(start) < time.Second {
		t.Errorf("the run took %s: Retry-After (1s) was not honoured", time.Since(start))
	}
	m := get(t, w.AppURL+"/metrics")
	for _, want := range []string{`gate_github_api_retries_total{reason="5xx"}`, `gate_github_api_retries_total{reason="secondary_rate_limit"} 1`,
		`gate_github_api_retries_total{reason="timeout"}`, `gate_github_api_errors_total{kind="5xx",op="create-check-run"}`,
		`gate_github_api_errors_total{kind="4xx",op="update-check-run"} 1`, `gate_github_api_errors_total{kind="timeout",op="update-check-run"}`,
		`gate_github_api_errors_total{kind="5xx",op="create-installation-token"} 1`,
		`gate_github_api_request_duration_seconds_count{op="update-check-run"}`, `gate_run_duration_seconds_count{phase="total"} 1`,
		`gate_run_duration_seconds_count{phase="fetch"} 1`, `gate_runs_total{outcome="fail"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestInternalFailureCompletesWithExplanation(t *testing.T) {
	real := engineRunner()
	r := app.RunnerFuncs{PlanFunc: real.Plan, RunFunc: func(context.Context, *app.Revisions) (*checks.Report, error) {
		return nil, errors.New("policy bundle could not be compiled")
	}}
	w := newWorld(t, r, nil)
	head := w.Repo.Commit(w.Repo.Main, nil, "empty")
	w.Repo.SetRef("refs/pull/12/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 12, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	runs := w.RunsFor(head)
	if len(runs) != 3 {
		t.Fatalf("want 3 check runs, got %v", names(runs))
	}
	for name, cr := range runs {
		if cr.Conclusion != "failure" || !strings.Contains(cr.Summary, "policy bundle could not be compiled") {
			t.Errorf("%s: conclusion %q, summary %q; want failure with the reason", name, cr.Conclusion, cr.Summary)
		}
		// Details leads to the reason too, not to a missing report.
		if body := get(t, cr.DetailsURL); !strings.Contains(body, "policy bundle could not be compiled") {
			t.Errorf("%s: details_url %s shows %q, want the reason", name, cr.DetailsURL, body)
		}
	}
	assertCompleted(t, w.Fake)

	// A fetch failure (head not on the remote) still says so, on a "gate" check run.
	w.Deliver("pull_request", w.PullRequest("opened", 13, strings.Repeat("ab", 20), time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	runs = w.RunsFor(strings.Repeat("ab", 20))
	if !failedSaying(runs, "refs/pull/13/head") {
		t.Errorf("a fetch failure produced %+v, want a failed gate check run naming the ref", runs)
	}
	assertCompleted(t, w.Fake)
}

// failedSaying says whether a run that could not start says why: on a
// "gate" check run, or, when the environments' check runs were created
// queued at webhook time (a repository gate planned before), on each of
// them.
func failedSaying(runs map[string]githubfake.CheckRun, why string) bool {
	if len(runs) == 0 {
		return false
	}
	if cr, ok := runs["gate"]; ok {
		return cr.Conclusion == "failure" && strings.Contains(cr.Summary, why)
	}
	for _, cr := range runs {
		if cr.Conclusion != "failure" || !strings.Contains(cr.Summary, why) {
			return false
		}
	}
	return true
}

// TestEnginePanicOrHangStillCompletes: a panic in the engine and an engine
// that ignores its deadline both end with every check run completed (the
// reason on it), and the server goes on serving.
func TestEnginePanicOrHangStillCompletes(t *testing.T) {
	real := engineRunner()
	r := app.RunnerFuncs{PlanFunc: real.Plan, RunFunc: func(ctx context.Context, rv *app.Revisions) (*checks.Report, error) {
		switch rv.PR {
		case 41:
			var m map[string]int
			m["boom"]++ // a nil map write: a bug in a renderer
		case 42:
			time.Sleep(10 * time.Second) // ignores ctx
		}
		return real.Run(ctx, rv)
	}}
	w := newWorld(t, r, func(c *app.Config) { c.RunTimeout = 4 * time.Second })
	want := map[int]struct{ conclusion, text string }{
		41: {"failure", "internal error: assignment to entry in nil map"},
		42: {"timed_out", "longer than 4s"},
	}
	heads := map[int]string{}
	for pr := range want {
		heads[pr] = w.Repo.Commit(w.Repo.Main, replicas(w, pr), "prod replicas")
		w.Repo.SetRef(fmt.Sprintf("refs/pull/%d/head", pr), heads[pr])
		w.Deliver("pull_request", w.PullRequest("opened", pr, heads[pr], time.Now()), []byte(apptest.Secret))
	}
	start := time.Now()
	w.WaitIdle(time.Minute)
	if d := time.Since(start); d > 9*time.Second {
		t.Errorf("the hung run held its check runs for %s, past the 4s run timeout (the engine hangs 10s)", d)
	}
	for pr, wnt := range want {
		runs := w.RunsFor(heads[pr])
		if len(runs) != 3 {
			t.Fatalf("PR %d: %d check runs, want 3", pr, len(runs))
		}
		for name, cr := range runs {
			if cr.Conclusion != wnt.conclusion || !strings.Contains(cr.Summary, wnt.text) {
				t.Errorf("PR %d %s: %s %q, want %s with %q", pr, name, cr.Conclusion, cr.Summary, wnt.conclusion, wnt.text)
			}
		}
	}
	assertCompleted(t, w.Fake)
	// The server still works.
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 5), "prod: 5 replicas")
	w.Repo.SetRef("refs/pull/43/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 43, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	if c := w.RunsFor(head)["gate / prod"].Conclusion; c != "success" {
		t.Errorf("after a panic, the next pull request concluded %q, want success", c)
	}
	if !strings.Contains(w.LogBuf.String(), "run panicked") && !strings.Contains(w.LogBuf.String(), "engine panicked") {
		t.Error("the panic was not logged")
	}
	time.Sleep(time.Until(start.Add(10 * time.Second))) // let the hung engine goroutine end before the world is torn down
}

// TestGitHubOutageCompletesLater: GitHub answers 502 to every check-run
// update for longer than the per-request retries last, right when the run
// finishes. The completions wait and go out once GitHub is back: every
// check run ends completed, with its conclusion and each annotation once.
func TestGitHubOutageCompletesLater(t *testing.T) {
	var outage atomic.Bool
	real := engineRunner()
	r := app.RunnerFuncs{PlanFunc: real.Plan, RunFunc: func(ctx context.Context, rv *app.Revisions) (*checks.Report, error) {
		rep, err := real.Run(ctx, rv)
		outage.Store(true)
		return rep, err
	}}
	w := newWorld(t, r, func(c *app.Config) { c.CompletionRetryEvery = 100 * time.Millisecond; c.Retries = 2 })
	w.Fake.SetFaults(func(op string, n int) *githubfake.Fault {
		if op == "checks/update" && outage.Load() {
			return &githubfake.Fault{Status: http.StatusBadGateway}
		}
		return nil
	})
	files, line := remoteBase(w)
	head := w.Repo.Commit(w.Repo.Main, files, "break prod")
	w.Repo.SetRef("refs/pull/17/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 17, head, time.Now()), []byte(apptest.Secret))
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(get(t, w.AppURL+"/metrics"), "gate_check_run_completions_waiting 3") {
		if time.Now().After(deadline) {
			t.Fatalf("the completions never waited for GitHub; log:\n%s", w.LogBuf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, cr := range w.RunsFor(head) {
		if cr.Status != "in_progress" {
			t.Fatalf("during the outage %s is %s; the test did not hold GitHub down", cr.Name, cr.Status)
		}
	}
	if w.App.Idle() {
		t.Error("the App says it is idle with completions waiting")
	}
	time.Sleep(300 * time.Millisecond) // a few more failed rounds
	outage.Store(false)
	w.WaitIdle(time.Minute)
	runs := w.RunsFor(head)
	prod := runs["gate / prod"]
	if prod.Conclusion != "failure" {
		t.Errorf("gate / prod concluded %q after the outage, want failure", prod.Conclusion)
	}
	n := 0
	for _, a := range prod.Annotations {
		if a.Path == "overlays/prod/kustomization.yaml" && a.StartLine == line {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the annotation on overlays/prod/kustomization.yaml:%d is there %d times, want once: %+v", line, n, prod.Annotations)
	}
	assertCompleted(t, w.Fake)
	m := get(t, w.AppURL+"/metrics")
	for _, want := range []string{`gate_check_run_late_completions_total{outcome="completed"} 3`, "gate_check_run_completions_waiting 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestGitHostFailuresAreRetried: the git host answers 502 twice, then 401
// once (a revoked token): the fetch tries again with backoff, and with a
// new installation token, and the pull request is checked.
func TestGitHostFailuresAreRetried(t *testing.T) {
	w := newWorld(t, nil, nil)
	w.Git.SetFault(func(n int) int {
		switch n {
		case 1, 2:
			return http.StatusBadGateway
		case 3:
			return http.StatusUnauthorized
		}
		return 0
	})
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas")
	w.Repo.SetRef("refs/pull/19/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 19, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	if c := w.RunsFor(head)["gate / prod"].Conclusion; c != "success" {
		t.Fatalf("gate / prod concluded %q after git host failures, want success; log:\n%s", c, w.LogBuf.String())
	}
	// One token for the checks API, one read-only token for git, and a
	// new git token after the 401.
	if n := w.Fake.Count("apps/create-installation-access-token"); n != 3 {
		t.Errorf("%d installation tokens minted, want 3 (a new git token after the 401)", n)
	}
	if m := get(t, w.AppURL+"/metrics"); !strings.Contains(m, `gate_repo_fetches_total{outcome="retried"} 3`) {
		t.Errorf("metrics lack 3 retried fetches")
	}
	assertCompleted(t, w.Fake)

	// A repository the host does not have is not retried.
	w.Git.SetFault(func(int) int { return http.StatusNotFound })
	head2 := w.Repo.Commit(w.Repo.Main, replicas(w, 5), "prod: 5 replicas")
	w.Repo.SetRef("refs/pull/20/head", head2)
	w.Deliver("pull_request", w.PullRequest("opened", 20, head2, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	if !failedSaying(w.RunsFor(head2), "fetch") {
		t.Errorf("a missing repository: %+v, want a failed gate check run saying the fetch failed", w.RunsFor(head2))
	}
	if m := get(t, w.AppURL+"/metrics"); !strings.Contains(m, `gate_repo_fetches_total{outcome="retried"} 3`) {
		t.Errorf("a 404 was retried")
	}
}

// TestLostCheckRunsAreCompleted: GitHub creates a check run but its answer
// is lost (a 502 after the work, an answer slower than the attempt
// timeout). The create is not sent again blind: the check run is found on
// the head by external_id and name and completed, so there is one per
// environment and none stays queued.
func TestLostCheckRunsAreCompleted(t *testing.T) {
	w := newWorld(t, nil, func(c *app.Config) { c.AttemptTimeout = 2 * time.Second })
	w.Fake.SetFaults(func(op string, n int) *githubfake.Fault {
		switch {
		case op == "checks/create" && n == 2:
			return &githubfake.Fault{Status: http.StatusBadGateway, Lost: true}
		case op == "checks/create" && n == 4:
			return &githubfake.Fault{Delay: 4 * time.Second, Lost: true}
		}
		return nil
	})
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas")
	w.Repo.SetRef("refs/pull/24/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 24, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	all := 0
	for _, cr := range w.Fake.CheckRuns() {
		if cr.HeadSHA == head {
			all++
		}
	}
	if all != 3 {
		t.Errorf("%d check runs on the head, want 3: a create whose answer was lost is found on GitHub, not sent again", all)
	}
	runs := w.RunsFor(head)
	if c := runs["gate / prod"].Conclusion; c != "success" {
		t.Errorf("gate / prod concluded %q, want success", c)
	}
	assertCompleted(t, w.Fake)
}

// TestRefusedCompletionIsNotKept: GitHub answers 404 to the completing
// updates (the check runs are gone, say the installation was removed):
// that is not an outage, so nothing waits to be sent again.
func TestRefusedCompletionIsNotKept(t *testing.T) {
	w := newWorld(t, nil, func(c *app.Config) { c.CompletionRetryEvery = 50 * time.Millisecond })
	w.Fake.SetFaults(func(op string, n int) *githubfake.Fault {
		if op == "checks/update" && n > 3 { // the in_progress updates pass
			return &githubfake.Fault{Status: http.StatusNotFound}
		}
		return nil
	})
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas")
	w.Repo.SetRef("refs/pull/25/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 25, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(30 * time.Second)
	m := get(t, w.AppURL+"/metrics")
	for _, want := range []string{`gate_check_run_late_completions_total{outcome="refused"} 3`, "gate_check_run_completions_waiting 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if n := w.Fake.Count("checks/update"); n != 6 {
		t.Errorf("%d check-run updates, want 6 (3 starts, 3 refused completions, none tried again)", n)
	}
}

// TestRevokedTokenNextDeliverySucceeds: GitHub revokes every token the
// App holds (API and git); the next delivery gets new ones after the 401s
// and its check runs complete.
func TestRevokedTokenNextDeliverySucceeds(t *testing.T) {
	w := newWorld(t, nil, nil)
	first := w.Repo.Commit(w.Repo.Main, nil, "first")
	w.Repo.SetRef("refs/pull/30/head", first)
	w.Deliver("pull_request", w.PullRequest("opened", 30, first, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	mints := w.Fake.Count("apps/create-installation-access-token")
	w.Fake.RevokeTokens()
	second := w.Repo.Commit(w.Repo.Main, nil, "second")
	w.Repo.SetRef("refs/pull/31/head", second)
	w.Deliver("pull_request", w.PullRequest("opened", 31, second, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	runs := w.RunsFor(second)
	if len(runs) != 3 {
		t.Fatalf("after the revocation the next delivery has check runs %v, want 3", names(runs))
	}
	for name, cr := range runs {
		if cr.Status != "completed" || (cr.Conclusion != "success" && cr.Conclusion != "neutral") {
			t.Errorf("%s: %s %s after the revocation, want completed success or neutral", name, cr.Status, cr.Conclusion)
		}
	}
	if n := w.Fake.Count("apps/create-installation-access-token"); n < mints+2 {
		t.Errorf("%d tokens minted after the revocation, want new ones for the API and for git", n-mints)
	}
	assertCompleted(t, w.Fake)
}

// TestSixtySecondOutage: GitHub answers 502 to everything (tokens, check
// runs) for 60 s from the moment the webhook arrives. The job backs off and
// runs again; once GitHub is back every environment's check run appears
// and completes.
func TestSixtySecondOutage(t *testing.T) {
	t.Parallel() // mostly waiting (rescue, outage, processes): overlap with the others
	if testing.Short() {
		t.Skip("waits out a 60 s outage")
	}
	w := newWorld(t, nil, func(c *app.Config) {
		c.Retries, c.JobRetryBase, c.JobRetryMax, c.PollInterval = 2, 500*time.Millisecond, 5*time.Second, 200*time.Millisecond
	})
	var until atomic.Int64
	w.Fake.SetFaults(func(op string, n int) *githubfake.Fault {
		if time.Now().UnixNano() < until.Load() {
			return &githubfake.Fault{Status: http.StatusBadGateway}
		}
		return nil
	})
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 5), "prod: 5 replicas")
	w.Repo.SetRef("refs/pull/60/head", head)
	until.Store(time.Now().Add(60 * time.Second).UnixNano())
	if resp := w.Deliver("pull_request", w.PullRequest("opened", 60, head, time.Now()), []byte(apptest.Secret)); resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook answered %d during the outage, want 200 (queued)", resp.StatusCode)
	}
	time.Sleep(30 * time.Second)
	if n := len(w.RunsFor(head)); n != 0 {
		t.Fatalf("%d check runs during the outage; the fault did not hold", n)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		runs := w.RunsFor(head)
		done := len(runs) == 3
		for _, cr := range runs {
			done = done && cr.Status == "completed"
		}
		if done && w.App.Idle() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("60 s after the outage the check runs are %v; log:\n%s", names(runs), w.LogBuf.String()[max(0, len(w.LogBuf.String())-4000):])
		}
		time.Sleep(200 * time.Millisecond)
	}
	runs := w.RunsFor(head)
	if c := runs["gate / prod"].Conclusion; c != "success" {
		t.Errorf("gate / prod concluded %q after the outage, want success", c)
	}
	assertCompleted(t, w.Fake)
}

// TestDuplicateOfLostCreateEndsLikeTheRealRun: GitHub carries out a
// create but its answer is lost, and the look for it fails too, so gate
// creates the check run again. The duplicate, found after the run by its
// external_id, ends with the same conclusion as the real one (never
// cancelled, which GitHub could show as the latest result), without
// annotations of its own.
func TestDuplicateOfLostCreateEndsLikeTheRealRun(t *testing.T) {
	w := newWorld(t, nil, func(c *app.Config) { c.Retries = 3 })
	var creates atomic.Int32
	w.Fake.SetFaults(func(op string, n int) *githubfake.Fault {
		switch {
		case op == "checks/create":
			if creates.Add(1) == 1 {
				return &githubfake.Fault{Status: http.StatusBadGateway, Lost: true}
			}
		case op == "checks/list-for-ref" && creates.Load() == 1:
			return &githubfake.Fault{Status: http.StatusBadGateway}
		}
		return nil
	})
	files, _ := remoteBase(w)
	head := w.Repo.Commit(w.Repo.Main, files, "break prod")
	w.Repo.SetRef("refs/pull/25/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 25, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	byName := map[string][]githubfake.CheckRun{}
	for _, cr := range w.Fake.CheckRuns() {
		if cr.HeadSHA == head {
			byName[cr.Name] = append(byName[cr.Name], cr)
		}
	}
	dups := 0
	for name, crs := range byName {
		if len(crs) < 2 {
			continue
		}
		dups++
		withAnnotations := 0
		for _, cr := range crs {
			if cr.Conclusion != crs[0].Conclusion || cr.Conclusion == "cancelled" {
				t.Errorf("%s: check runs of the same name concluded %q and %q, want the same verdict", name, crs[0].Conclusion, cr.Conclusion)
			}
			if len(cr.Annotations) > 0 {
				withAnnotations++
			}
		}
		if withAnnotations > 1 {
			t.Errorf("%s: annotations on %d check runs, want them on the real one only", name, withAnnotations)
		}
	}
	if dups != 1 {
		t.Fatalf("%d names with a duplicate, want 1 (the fault did not make one): %v", dups, byName)
	}
	if c := w.RunsFor(head)["gate / prod"].Conclusion; c != "failure" {
		t.Errorf("gate / prod concluded %q, want failure", c)
	}
	assertCompleted(t, w.Fake)
}
