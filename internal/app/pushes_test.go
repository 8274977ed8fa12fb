package app_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/internal/app"
	"github.com/gate-ops/gate/internal/testing/apptest"
	"github.com/gate-ops/gate/internal/testing/githubfake"
)

// blockingRunner holds runs until released, to make supersession visible.
type blockingRunner struct {
	app.Runner
	started chan string
	release chan struct{}
}

func (b *blockingRunner) Run(ctx context.Context, rv *app.Revisions) (*checks.Report, error) {
	b.started <- rv.HeadSHA
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	return b.Runner.Run(ctx, rv)
}

func TestNewerPushSupersedesRunningRun(t *testing.T) {
	br := &blockingRunner{Runner: engineRunner(), started: make(chan string, 4), release: make(chan struct{})}
	w := newWorld(t, br, nil)
	old := w.Repo.Commit(w.Repo.Main, nil, "first push")
	w.Repo.SetRef("refs/pull/14/head", old)
	w.Deliver("pull_request", w.PullRequest("opened", 14, old, time.Now()), []byte(apptest.Secret))
	<-br.started
	newer := w.Repo.Commit(old, replicas(w, 6), "second push")
	w.Repo.SetRef("refs/pull/14/head", newer)
	w.Deliver("pull_request", w.PullRequest("synchronize", 14, newer, time.Now().Add(time.Second)), []byte(apptest.Secret))
	<-br.started
	close(br.release)
	w.WaitIdle(time.Minute)
	for name, cr := range w.RunsFor(old) {
		if cr.Conclusion != "cancelled" || cr.Title != "Superseded by a newer push" || !strings.Contains(cr.Summary, "superseded") {
			t.Errorf("old head %s: %q %q, want cancelled as superseded", name, cr.Conclusion, cr.Summary)
		}
	}
	if n := len(w.RunsFor(newer)); n != 3 {
		t.Errorf("new head has %d check runs, want 3", n)
	}
	if c := w.RunsFor(newer)["gate / prod"].Conclusion; c != "success" {
		t.Errorf("new head gate / prod concluded %q, want success", c)
	}
	assertCompleted(t, w.Fake)
}

func TestRerunButtons(t *testing.T) {
	w := newWorld(t, nil, nil)
	files, _ := remoteBase(w)
	head := w.Repo.Commit(w.Repo.Main, files, "break prod")
	w.Repo.SetRef("refs/pull/15/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 15, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	// A failed check run carries the Re-run button; a passing one does not.
	first := w.RunsFor(head)
	if cr := first["gate / prod"]; cr.Conclusion != "failure" || strings.Join(cr.Actions, ",") != "rerun" {
		t.Errorf("gate / prod: %s with buttons %v, want failure with the rerun button", cr.Conclusion, cr.Actions)
	}
	if cr := first["gate / dev"]; len(cr.Actions) != 0 {
		t.Errorf("gate / dev (%s) has buttons %v, want none", cr.Conclusion, cr.Actions)
	}
	// A duplicate delivery for a checked head does nothing.
	w.Deliver("pull_request", w.PullRequest("synchronize", 15, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	if n := len(w.Fake.CheckRuns()); n != 3 {
		t.Fatalf("a duplicate delivery created check runs: %d, want 3", n)
	}
	pr := map[string]any{"number": 15, "head": map[string]any{"ref": "pr-15", "sha": head}, "base": map[string]any{"ref": "main", "sha": w.Repo.Main}}
	rerequest := w.Payload("check_run.rerequested", map[string]any{
		"check_run.head_sha": head, "check_run.pull_requests": []any{pr}, "check_run.app.created_at": "2018-04-25T20:42:10Z",
	})
	if resp := w.Deliver("check_run", rerequest, []byte(apptest.Secret)); resp.StatusCode != http.StatusOK {
		t.Fatalf("check_run.rerequested answered %d", resp.StatusCode)
	}
	w.WaitIdle(time.Minute)
	if n := len(w.Fake.CheckRuns()); n != 6 {
		t.Fatalf("after Re-run: %d check runs, want 6", n)
	}
	again := w.RunsFor(head)
	if cr := again["gate / prod"]; cr.ID == first["gate / prod"].ID || cr.Conclusion != "failure" || len(cr.Annotations) == 0 {
		t.Errorf("the Re-run's gate / prod: id %d (first %d), %s, %d annotations; want a new, failed, annotated check run", cr.ID, first["gate / prod"].ID, cr.Conclusion, len(cr.Annotations))
	}
	action := w.Payload("check_run.requested_action", map[string]any{
		"check_run.head_sha": head, "check_run.pull_requests": []any{pr}, "requested_action.identifier": "rerun",
	})
	w.Deliver("check_run", action, []byte(apptest.Secret))
	suite := w.Payload("check_suite.rerequested", map[string]any{"check_suite.head_sha": head, "check_suite.pull_requests": []any{pr}})
	w.Deliver("check_suite", suite, []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	if n := len(w.Fake.CheckRuns()); n < 9 {
		t.Fatalf("after requested_action and check_suite.rerequested: %d check runs, want at least 9", n)
	}
	inst := w.Payload("installation.created", nil)
	if resp := w.Deliver("installation", inst, []byte(apptest.Secret)); resp.StatusCode != http.StatusOK {
		t.Errorf("installation.created answered %d", resp.StatusCode)
	}
	assertCompleted(t, w.Fake)
}

// countingRunner tracks how many runs are in the engine at once.
type countingRunner struct {
	app.Runner
	mu        sync.Mutex
	now, peak int
	runs      int
}

func (c *countingRunner) Run(ctx context.Context, rv *app.Revisions) (*checks.Report, error) {
	c.mu.Lock()
	c.now++
	c.runs++
	c.peak = max(c.peak, c.now)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}()
	return c.Runner.Run(ctx, rv)
}

// heapSampler records the peak heap in use while a test runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			h.peak = max(h.peak, ms.HeapInuse)
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	<-h.done
	return h.peak
}

func TestHundredWebhooksForTwentyPullRequests(t *testing.T) {
	const workers = 4
	cr := &countingRunner{Runner: engineRunner()}
	w := apptest.New(t, apptest.Options{Example: example, Runner: cr, Workers: workers})
	files, _ := remoteBase(w)
	type delivery struct {
		body []byte
	}
	var all []delivery
	latest := map[int]string{}
	base := time.Now()
	for pr := 1; pr <= 20; pr++ {
		parent := w.Repo.Main
		for push := 1; push <= 5; push++ {
			change := replicas(w, push+1)
			if pr%4 == 0 && push == 5 {
				change = files // every fourth PR ends broken
			}
			parent = w.Repo.Commit(parent, change, fmt.Sprintf("pr %d push %d", pr, push))
			action := "synchronize"
			if push == 1 {
				action = "opened"
			}
			all = append(all, delivery{w.PullRequest(action, pr, parent, base.Add(time.Duration(push)*time.Second))})
		}
		latest[pr] = parent
		w.Repo.SetRef(fmt.Sprintf("refs/pull/%d/head", pr), parent)
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	sampler := sampleHeap()
	start := time.Now()
	var wg sync.WaitGroup
	codes := make(chan int, len(all))
	for _, d := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- w.Deliver("pull_request", d.body, []byte(apptest.Secret)).StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("a delivery answered %d", c)
		}
	}
	w.WaitIdle(5 * time.Minute)
	elapsed := time.Since(start)
	peak := sampler.Stop()
	for pr, head := range latest {
		runs := w.RunsFor(head)
		if len(runs) != 3 {
			t.Errorf("PR %d latest head %s has %d check runs, want 3", pr, head[:8], len(runs))
			continue
		}
		want := "success"
		if pr%4 == 0 {
			want = "failure"
		}
		if c := runs["gate / prod"].Conclusion; c != want {
			t.Errorf("PR %d gate / prod concluded %q, want %q", pr, c, want)
		}
	}
	assertCompleted(t, w.Fake)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("100 webhooks, 20 PRs: %s; engine runs %d (peak %d at once, %d workers); check runs %d; heap in use before %d MiB, peak %d MiB, after %d MiB; goroutines %d",
		elapsed.Round(time.Millisecond), cr.runs, cr.peak, workers, len(w.Fake.CheckRuns()), before.HeapInuse>>20, peak>>20, after.HeapInuse>>20, runtime.NumGoroutine())
	if cr.peak > workers {
		t.Errorf("%d runs in the engine at once, over the %d workers", cr.peak, workers)
	}
	if cr.runs >= len(all) {
		t.Errorf("%d engine runs for %d deliveries: superseded pushes were not dropped", cr.runs, len(all))
	}
	// Memory is bounded by the workers, not by the deliveries: the peak
	// stays within a fixed budget over the baseline, and what is left
	// afterwards is small.
	if peak > before.HeapInuse+128<<20 {
		t.Errorf("heap peaked at %d MiB from %d MiB over 100 webhooks; budget 128 MiB", peak>>20, before.HeapInuse>>20)
	}
	if after.HeapInuse > before.HeapInuse+48<<20 {
		t.Errorf("heap grew from %d MiB to %d MiB over 100 webhooks and stayed", before.HeapInuse>>20, after.HeapInuse>>20)
	}
}

// TestClosingPullRequestCancelsItsRun: a pull request closed while its run
// is in the engine ends its check runs cancelled, saying it was closed.
func TestClosingPullRequestCancelsItsRun(t *testing.T) {
	br := &blockingRunner{Runner: engineRunner(), started: make(chan string, 4), release: make(chan struct{})}
	w := newWorld(t, br, nil)
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas")
	w.Repo.SetRef("refs/pull/23/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 23, head, time.Now()), []byte(apptest.Secret))
	<-br.started
	w.Deliver("pull_request", w.PullRequest("closed", 23, head, time.Now().Add(time.Second)), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	runs := w.RunsFor(head)
	if len(runs) != 3 {
		t.Fatalf("%d check runs, want 3", len(runs))
	}
	for name, cr := range runs {
		if cr.Conclusion != "cancelled" || cr.Title != "Cancelled" || !strings.Contains(cr.Summary, "the pull request was closed") {
			t.Errorf("%s: %s %q %q, want cancelled because the pull request was closed", name, cr.Conclusion, cr.Title, cr.Summary)
		}
	}
	assertCompleted(t, w.Fake)
}

// TestPushesDuringRuns: pushes keep arriving while earlier ones are in the
// engine (10 pull requests, 4 pushes each, in waves): running runs are
// superseded, every latest head ends with its verdict, and no check run of
// any head is left queued or in progress.
func TestPushesDuringRuns(t *testing.T) {
	real := engineRunner()
	// The run of every head but a PR's latest starts, says so, and runs
	// until it is superseded: each push lands on a running run whatever
	// the machine's speed or load, and the test waits for that start
	// before pushing again (no sleeps).
	var mu sync.Mutex
	started := map[string]chan struct{}{}
	latestHead := map[string]bool{}
	startedCh := func(head string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if started[head] == nil {
			started[head] = make(chan struct{})
		}
		return started[head]
	}
	slow := app.RunnerFuncs{PlanFunc: real.Plan, RunFunc: func(ctx context.Context, rv *app.Revisions) (*checks.Report, error) {
		ch := startedCh(rv.HeadSHA)
		mu.Lock()
		select {
		case <-ch:
		default:
			close(ch)
		}
		last := latestHead[rv.HeadSHA]
		mu.Unlock()
		if !last {
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}
		return real.Run(ctx, rv)
	}}
	w := apptest.New(t, apptest.Options{Example: example, Runner: slow, Workers: 2})
	base := time.Now()
	heads := map[int][]string{}
	for pr := 1; pr <= 10; pr++ {
		parent := w.Repo.Main
		for push := 1; push <= 4; push++ {
			parent = w.Repo.Commit(parent, replicas(w, pr*10+push), fmt.Sprintf("pr %d push %d", pr, push))
			heads[pr] = append(heads[pr], parent)
		}
		latestHead[parent] = true
	}
	// The pull requests push at once, each waiting for its previous
	// head's run to be running before the next push.
	var wg sync.WaitGroup
	for pr := 1; pr <= 10; pr++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for push := 0; push < 4; push++ {
				w.Repo.SetRef(fmt.Sprintf("refs/pull/%d/head", pr), heads[pr][push])
				action := "synchronize"
				if push == 0 {
					action = "opened"
				}
				body := w.PullRequest(action, pr, heads[pr][push], base.Add(time.Duration(push)*time.Second))
				if c := w.Deliver("pull_request", body, []byte(apptest.Secret)).StatusCode; c != http.StatusOK {
					t.Errorf("delivery answered %d", c)
					return
				}
				if push == 3 {
					return
				}
				select {
				case <-startedCh(heads[pr][push]):
				case <-time.After(5 * time.Minute):
					t.Errorf("PR %d push %d: its run never started", pr, push+1)
					return
				}
			}
		}()
	}
	wg.Wait()
	w.WaitIdle(5 * time.Minute)
	for pr := 1; pr <= 10; pr++ {
		runs := w.RunsFor(heads[pr][3])
		if len(runs) != 3 || runs["gate / prod"].Conclusion != "success" {
			t.Errorf("PR %d latest head: %v, want 3 check runs, prod success", pr, names(runs))
		}
		for i, h := range heads[pr][:3] {
			// Superseded while running: the environment it was checking
			// ends cancelled, never a verdict for a head no longer there.
			if cr := w.RunsFor(h)["gate / prod"]; cr.Conclusion != "cancelled" {
				t.Errorf("PR %d push %d, superseded while running: gate / prod %s/%s, want completed cancelled", pr, i+1, cr.Status, cr.Conclusion)
			}
		}
	}
	assertCompleted(t, w.Fake)
}

// TestRetriedJobSupersededClosesItsCheckRuns: an attempt GitHub turned
// away after its check runs were created goes back to the queue; when a
// newer push comes before the next attempt, that attempt does not run the
// check but still completes the check runs the first one left open.
func TestRetriedJobSupersededClosesItsCheckRuns(t *testing.T) {
	w := newWorld(t, nil, func(c *app.Config) {
		c.Retries, c.JobRetryBase, c.JobRetryMax, c.PollInterval = 1, 2*time.Second, 2*time.Second, 100*time.Millisecond
	})
	var down atomic.Bool
	down.Store(true)
	w.Fake.SetFaults(func(op string, n int) *githubfake.Fault {
		if op == "checks/update" && down.Load() {
			return &githubfake.Fault{Status: http.StatusBadGateway}
		}
		return nil
	})
	old := w.Repo.Commit(w.Repo.Main, nil, "first push")
	w.Repo.SetRef("refs/pull/31/head", old)
	w.Deliver("pull_request", w.PullRequest("opened", 31, old, time.Now()), []byte(apptest.Secret))
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(w.LogBuf.String(), "it will run again") {
		if time.Now().After(deadline) {
			t.Fatalf("the first attempt was not handed back to the queue; log:\n%s", w.LogBuf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(w.RunsFor(old)); n != 3 {
		t.Fatalf("the first attempt left %d check runs, want 3 (queued)", n)
	}
	newer := w.Repo.Commit(old, replicas(w, 6), "second push")
	w.Repo.SetRef("refs/pull/31/head", newer)
	w.Deliver("pull_request", w.PullRequest("synchronize", 31, newer, time.Now().Add(time.Second)), []byte(apptest.Secret))
	down.Store(false)
	w.WaitIdle(time.Minute)
	for name, cr := range w.RunsFor(old) {
		if cr.Status != "completed" || cr.Conclusion != "cancelled" || !strings.Contains(cr.Summary, "superseded") {
			t.Errorf("old head %s: %s %q %q, want completed cancelled as superseded", name, cr.Status, cr.Conclusion, cr.Summary)
		}
	}
	if c := w.RunsFor(newer)["gate / prod"].Conclusion; c != "success" {
		t.Errorf("new head gate / prod concluded %q, want success", c)
	}
	assertCompleted(t, w.Fake)
}
