package app_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/internal/app"
	"github.com/gate-ops/gate/internal/testing/apptest"
	"github.com/gate-ops/gate/internal/testing/githubfake"
)

// planGate holds every run at its Plan until the test lets one through:
// nothing a worker does on GitHub (listing, creating, starting check runs)
// can happen before.
type planGate struct {
	started chan string
	release chan struct{}
}

func gatedRunner() (app.Runner, *planGate) {
	g := &planGate{started: make(chan string, 16), release: make(chan struct{}, 16)}
	r := triageRunner().(app.RunnerFuncs)
	plan := r.PlanFunc
	r.PlanFunc = func(ctx context.Context, rv *app.Revisions) ([]checks.Env, error) {
		g.started <- rv.HeadSHA
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		return plan(ctx, rv)
	}
	return r, g
}

// TestCheckRunsAreQueuedWhenTheWebhookArrives: once gate has planned a
// repository, the webhook of a new push creates its environments' check
// runs queued before it is answered, before any worker runs; the job takes
// them over (no second set), the touched one goes in progress and
// completes, the untouched ones are completed neutral in one request each.
// A repository never planned gets nothing at webhook time. A job that is
// not committed (the database fails; the webhook is answered 503) leaves
// no check run queued.
func TestCheckRunsAreQueuedWhenTheWebhookArrives(t *testing.T) {
	r, g := gatedRunner()
	w := newWorld(t, r, nil)
	deliver := func(pr int, head string) int {
		t.Helper()
		w.Repo.SetRef("refs/pull/"+strconv.Itoa(pr)+"/head", head)
		return w.Deliver("pull_request", w.PullRequest("opened", pr, head, time.Now()), []byte(apptest.Secret)).StatusCode
	}

	// A repository never planned: nothing before the run.
	head1 := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas")
	if code := deliver(30, head1); code/100 != 2 {
		t.Fatalf("webhook answered %d", code)
	}
	if runs := w.RunsFor(head1); len(runs) != 0 {
		t.Fatalf("check runs %v at webhook time on a repository gate never planned, want none", names(runs))
	}
	<-g.started
	g.release <- struct{}{}
	w.WaitIdle(time.Minute)
	if runs := w.RunsFor(head1); len(runs) != 3 {
		t.Fatalf("first head: check runs %v, want 3", names(runs))
	}

	// The repository is known now: dev, staging and prod are queued when
	// the webhook is answered, while the worker waits at its Plan. (The
	// replica has to read the rate-limit budget from the database again:
	// with SQLite the open transaction must not wait for itself.)
	app.ForgetRateLimits(w.App)
	creates := w.Fake.Count("checks/create")
	head2 := w.Repo.Commit(w.Repo.Main, replicas(w, 5), "prod: 5 replicas")
	if code := deliver(31, head2); code/100 != 2 {
		t.Fatalf("webhook answered %d", code)
	}
	queued := w.RunsFor(head2)
	if len(queued) != 3 {
		t.Fatalf("check runs %v right after the webhook's answer, want gate / dev, staging and prod queued", names(queued))
	}
	for name, cr := range queued {
		if got := strings.Join(cr.Statuses, " -> "); got != "queued" || cr.ExternalID != apptest.FullName+"#31@main" {
			t.Errorf("%s is %s (external_id %q) at webhook time, want queued with the pull request's external_id", name, got, cr.ExternalID)
		}
	}
	if n := w.Fake.Count("checks/create") - creates; n != 3 {
		t.Errorf("%d creates by the webhook, want 3", n)
	}
	<-g.started
	g.release <- struct{}{}
	w.WaitIdle(time.Minute)
	runs := w.RunsFor(head2)
	byName := map[string]int{}
	for _, cr := range w.Fake.CheckRuns() {
		if cr.HeadSHA == head2 {
			byName[cr.Name]++
		}
	}
	for name, n := range byName {
		if n != 1 {
			t.Errorf("%s has %d check runs on the head, want the one created at webhook time", name, n)
		}
	}
	for name, cr := range runs {
		got := strings.Join(cr.Statuses, " -> ")
		switch {
		case cr.ID != queued[name].ID:
			t.Errorf("%s is check run %d, want %d (the one created at webhook time)", name, cr.ID, queued[name].ID)
		case name == "gate / prod":
			if got != "queued -> in_progress -> completed" || cr.Conclusion != "success" {
				t.Errorf("%s went %s to %q, want queued -> in_progress -> completed success", name, got, cr.Conclusion)
			}
		default:
			if got != "queued -> completed" || cr.Conclusion != "neutral" || cr.Requests != 2 {
				t.Errorf("%s went %s to %q in %d requests, want queued -> completed neutral in 2 (create, complete)", name, got, cr.Conclusion, cr.Requests)
			}
		}
	}
	if n := w.Fake.Count("checks/create") - creates; n != 3 {
		t.Errorf("%d creates for the second head, want the webhook's 3 only", n)
	}
	assertCompleted(t, w.Fake)

	// The database fails to commit the job: 503, and the check runs created
	// for it are completed at once, never left queued.
	app.FailCommits(w.App, func() error { return errors.New("connection reset by peer") })
	head3 := w.Repo.Commit(w.Repo.Main, replicas(w, 6), "prod: 6 replicas")
	if code := deliver(32, head3); code != 503 {
		t.Fatalf("webhook whose job was not committed answered %d, want 503", code)
	}
	failed := w.RunsFor(head3)
	if len(failed) != 3 {
		t.Fatalf("check runs %v for the uncommitted job, want 3 (created, then completed); log:\n%s", names(failed), tailString(w.LogBuf.String(), 3000))
	}
	for name, cr := range failed {
		if cr.Status != "completed" || cr.Conclusion != "failure" || !strings.Contains(cr.Summary, "could not record this push in its queue") ||
			strings.Contains(cr.Summary, "connection reset") {
			t.Errorf("%s: %s %s %q, want completed failure saying the push was not queued (without the database's error)", name, cr.Status, cr.Conclusion, cr.Summary)
		}
	}
	// The redelivery goes through and its job publishes the verdict.
	app.FailCommits(w.App, nil)
	if code := deliver(32, head3); code/100 != 2 {
		t.Fatalf("redelivery answered %d", code)
	}
	<-g.started
	g.release <- struct{}{}
	w.WaitIdle(time.Minute)
	latest := latestRuns(w.Fake, head3)
	if c := latest["gate / prod"].Conclusion; c != "success" {
		t.Errorf("after the redelivery gate / prod is %q, want success", c)
	}
	assertCompleted(t, w.Fake)
}

// latestRuns is the newest check run of each name on head: what GitHub
// shows.
func latestRuns(f *githubfake.Fake, head string) map[string]githubfake.CheckRun {
	out := map[string]githubfake.CheckRun{}
	for _, cr := range f.CheckRuns() {
		if cr.HeadSHA == head && cr.ID > out[cr.Name].ID {
			out[cr.Name] = cr
		}
	}
	return out
}

// TestRateLimitAtWebhookTime: GitHub answers one of the webhook's queued
// creates with a secondary rate limit (429, Retry-After). The replica
// records the limit without waiting for the database its own open
// transaction holds (SQLite: one connection), answers the webhook, and
// the run creates the missing check run: one per environment, all
// completed.
func TestRateLimitAtWebhookTime(t *testing.T) {
	w := newWorld(t, triageRunner(), nil)
	head1 := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas")
	w.Repo.SetRef("refs/pull/33/head", head1)
	w.Deliver("pull_request", w.PullRequest("opened", 33, head1, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	first := w.Fake.Count("checks/create")
	w.Fake.SetFaults(func(op string, n int) *githubfake.Fault {
		if op == "checks/create" && n == first+1 {
			return &githubfake.Fault{Status: 429, RetryAfter: time.Second}
		}
		return nil
	})
	app.ForgetRateLimits(w.App)
	head2 := w.Repo.Commit(w.Repo.Main, replicas(w, 5), "prod: 5 replicas")
	w.Repo.SetRef("refs/pull/34/head", head2)
	answered := make(chan int, 1)
	go func() {
		answered <- w.Deliver("pull_request", w.PullRequest("opened", 34, head2, time.Now()), []byte(apptest.Secret)).StatusCode
	}()
	select {
	case code := <-answered:
		if code/100 != 2 {
			t.Fatalf("webhook answered %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the webhook was not answered: the rate limit's write waits for the transaction that waits for it; log:\n%s", tailString(w.LogBuf.String(), 3000))
	}
	if n := len(w.RunsFor(head2)); n != 2 {
		t.Errorf("%d check runs created at webhook time, want 2 (one create was rate limited)", n)
	}
	w.WaitIdle(time.Minute)
	count := map[string]int{}
	for _, cr := range w.Fake.CheckRuns() {
		if cr.HeadSHA == head2 {
			count[cr.Name]++
		}
	}
	if len(count) != 3 || count["gate / dev"] != 1 || count["gate / staging"] != 1 || count["gate / prod"] != 1 {
		t.Errorf("check runs per environment %v, want exactly one each", count)
	}
	assertCompleted(t, w.Fake)
}

// TestOutageAtWebhookTimeSkipsTheQueuedCreates: GitHub fails every create
// of a webhook (502): the next webhook does not try again (its
// transaction is not held for the budget during an outage); both are
// answered 2xx, their runs create the check runs once GitHub is back.
func TestOutageAtWebhookTimeSkipsTheQueuedCreates(t *testing.T) {
	r, g := gatedRunner()
	w := newWorld(t, r, nil)
	head1 := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas")
	w.Repo.SetRef("refs/pull/41/head", head1)
	w.Deliver("pull_request", w.PullRequest("opened", 41, head1, time.Now()), []byte(apptest.Secret))
	<-g.started
	g.release <- struct{}{}
	w.WaitIdle(time.Minute)

	w.Fake.SetFaults(func(op string, _ int) *githubfake.Fault {
		if op == "checks/create" {
			return &githubfake.Fault{Status: 502}
		}
		return nil
	})
	before := w.Fake.Count("checks/create")
	var heads []string
	for i, pr := range []int{42, 43} {
		head := w.Repo.Commit(w.Repo.Main, replicas(w, 5+i), "prod")
		w.Repo.SetRef("refs/pull/"+strconv.Itoa(pr)+"/head", head)
		if code := w.Deliver("pull_request", w.PullRequest("opened", pr, head, time.Now()), []byte(apptest.Secret)).StatusCode; code/100 != 2 {
			t.Fatalf("webhook %d answered %d", pr, code)
		}
		heads = append(heads, head)
		want := 3 // the first webhook tries its 3 creates, the second none
		if got := w.Fake.Count("checks/create") - before; got != want {
			t.Errorf("after webhook %d: %d creates, want %d", pr, got, want)
		}
	}
	w.Fake.SetFaults(nil)
	for range heads {
		<-g.started
		g.release <- struct{}{}
	}
	w.WaitIdle(time.Minute)
	for _, head := range heads {
		if runs := latestRuns(w.Fake, head); len(runs) != 3 || runs["gate / prod"].Conclusion != "success" {
			t.Errorf("head %s: %d check runs, prod %q; want 3 and success", head[:8], len(runs), runs["gate / prod"].Conclusion)
		}
	}
	assertCompleted(t, w.Fake)
}
