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
	// the webhook is answered, while the worker waits at its Plan.
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
