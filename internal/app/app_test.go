package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/internal/app"
	"github.com/gate-ops/gate/internal/run"
	"github.com/gate-ops/gate/internal/testing/apptest"
	"github.com/gate-ops/gate/internal/testing/githubfake"
)

const example = "../../testdata/example"

// engineRunner is today's engine with gate.yaml from the base: what
// cmd/gate wires in, minus the stages registered there.
func engineRunner() app.Runner {
	load := func(rv *app.Revisions) (*engine.Request, error) {
		cfg, _, err := config.Load(rv.Base, "")
		if err != nil {
			return nil, err
		}
		return &engine.Request{Head: rv.Head, Base: rv.Base, Config: cfg, Incremental: true}, nil
	}
	return app.RunnerFuncs{
		PlanFunc: func(_ context.Context, rv *app.Revisions) ([]checks.Env, error) {
			req, err := load(rv)
			if err != nil {
				return nil, err
			}
			envs, _, err := engine.Plan(req)
			return envs, err
		},
		RunFunc: func(ctx context.Context, rv *app.Revisions) (*checks.Report, error) {
			req, err := load(rv)
			if err != nil {
				return nil, err
			}
			rep, err := engine.Run(ctx, req)
			if rep != nil {
				rep.BaseRev = rv.BaseSHA
			}
			return rep, err
		},
	}
}

// triageRunner is engineRunner that also tells the untouched environments
// before the run, as cmd/gate's runner (internal/run.AppRunner) does.
func triageRunner() app.Runner {
	r := engineRunner().(app.RunnerFuncs)
	r.UntouchedFunc = func(_ context.Context, rv *app.Revisions, envs []checks.Env) (*checks.Report, error) {
		cfg, _, err := config.Load(rv.Base, "")
		if err != nil {
			return nil, err
		}
		req := &engine.Request{Head: rv.Head, Base: rv.Base, Config: cfg, Incremental: true}
		names, err := engine.Untouched(req, envs)
		if err != nil || len(names) == 0 {
			return nil, err
		}
		return run.UntouchedReport(req, rv.HeadSHA, rv.BaseSHA, envs, names), nil
	}
	return r
}

func newWorld(t *testing.T, r app.Runner, configure func(*app.Config)) *apptest.World {
	t.Helper()
	if r == nil {
		r = engineRunner()
	}
	return apptest.New(t, apptest.Options{Example: example, Runner: r, Workers: 2, Configure: configure})
}

// remoteBase breaks prod: a kustomization that pulls a remote base, which
// gate refuses (the PR head is data, nothing is fetched from it).
func remoteBase(w *apptest.World) (map[string][]byte, int) {
	k := string(w.Repo.Read("overlays/prod/kustomization.yaml"))
	k = strings.Replace(k, "resources:\n", "resources:\n  - https://github.com/evil/base//deploy?ref=v1\n", 1)
	line := 0
	for i, l := range strings.Split(k, "\n") {
		if strings.Contains(l, "evil/base") {
			line = i + 1
		}
	}
	return map[string][]byte{"overlays/prod/kustomization.yaml": []byte(k)}, line
}

// replicas is a harmless, real change to prod: the replica count.
func replicas(w *apptest.World, n int) map[string][]byte {
	d := string(w.Repo.Read("overlays/prod/deployment-prod.yaml"))
	d = strings.Replace(d, "replicas: 3", fmt.Sprintf("replicas: %d", n), 1)
	return map[string][]byte{"overlays/prod/deployment-prod.yaml": []byte(d)}
}

func assertCompleted(t *testing.T, f *githubfake.Fake) {
	t.Helper()
	for _, cr := range f.CheckRuns() {
		if cr.Status != "completed" {
			t.Errorf("check run %d %q on %s is %s, want completed", cr.ID, cr.Name, cr.HeadSHA[:8], cr.Status)
		}
	}
	if p := f.Problems(); len(p) > 0 {
		t.Errorf("the fake GitHub saw requests GitHub would not answer like that:\n%s", strings.Join(p, "\n"))
	}
}

func TestPullRequestBreakingProdFailsOnlyProd(t *testing.T) {
	w := newWorld(t, nil, nil)
	files, line := remoteBase(w)
	head := w.Repo.Commit(w.Repo.Main, files, "prod: pull a shared base")
	w.Repo.SetRef("refs/pull/7/head", head)

	const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	resp := w.DeliverID("pull_request", delivery, w.PullRequest("opened", 7, head, time.Now()), []byte(apptest.Secret))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook answered %d, want 200", resp.StatusCode)
	}
	w.WaitIdle(2 * time.Minute)
	runs := w.RunsFor(head)
	prod, ok := runs["gate / prod"]
	if !ok {
		t.Fatalf("no gate / prod check run; have %v\nlog:\n%s", names(runs), w.LogBuf.String())
	}
	if prod.Conclusion != "failure" {
		t.Errorf("gate / prod concluded %q, want failure; summary:\n%s", prod.Conclusion, prod.Summary)
	}
	found := false
	for _, a := range prod.Annotations {
		if a.Path == "overlays/prod/kustomization.yaml" && a.StartLine == line && a.Level == "failure" {
			found = true
		}
	}
	if !found {
		t.Errorf("no failure annotation on overlays/prod/kustomization.yaml:%d; annotations: %+v", line, prod.Annotations)
	}
	for _, env := range []string{"dev", "staging"} {
		if c := runs["gate / "+env].Conclusion; c != "neutral" {
			t.Errorf("gate / %s concluded %q, want neutral: the pull request does not touch it", env, c)
		}
	}
	if !strings.HasPrefix(prod.DetailsURL, w.AppURL+"/reports/") {
		t.Fatalf("details_url %q does not point at the full report", prod.DetailsURL)
	}
	body := get(t, prod.DetailsURL)
	if !strings.Contains(body, "overlays/prod/kustomization.yaml") {
		t.Errorf("the full report behind details_url does not name the broken file:\n%s", body)
	}
	if code := status(t, strings.Replace(prod.DetailsURL, "/reports/", "/reports/0", 1)); code != http.StatusNotFound {
		t.Errorf("a report URL with a wrong signature answered %d, want 404", code)
	}
	assertCompleted(t, w.Fake)
	if n := w.Fake.Count("apps/create-installation-access-token"); n == 0 {
		t.Error("no installation token was minted: the App did not authenticate as the installation")
	}
	// Logs are JSON lines; the accepting and the finishing line carry the
	// delivery id and the pull request.
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(w.LogBuf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		msg, _ := rec["msg"].(string)
		if msg != "webhook accepted" && msg != "run finished" {
			continue
		}
		if rec["delivery"] != delivery || rec["pr"] != float64(7) || rec["repo"] != apptest.FullName {
			t.Errorf("%q log line lacks delivery, pr or repo: %s", msg, line)
		}
		seen[msg] = true
	}
	if !seen["webhook accepted"] || !seen["run finished"] {
		t.Errorf("logs lack the accepting or finishing line:\n%s", w.LogBuf.String())
	}
	// Metrics count the webhook, the run and the API calls.
	m := get(t, w.AppURL+"/metrics")
	for _, want := range []string{`gate_webhooks_total{action="opened",event="pull_request",outcome="queued"} 1`, `gate_runs_total{outcome="fail"} 1`, `gate_github_api_requests_total{code="201",op="create-check-run"} 3`, `gate_check_runs_total{conclusion="failure"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestHarmlessPullRequestSucceeds(t *testing.T) {
	w := newWorld(t, nil, nil)
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas")
	w.Repo.SetRef("refs/pull/8/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 8, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(2 * time.Minute)
	runs := w.RunsFor(head)
	if len(runs) != 3 {
		t.Fatalf("want 3 check runs (dev, staging, prod), got %v", names(runs))
	}
	if c := runs["gate / prod"].Conclusion; c != "success" {
		t.Errorf("gate / prod concluded %q, want success; summary:\n%s", c, runs["gate / prod"].Summary)
	}
	for name, cr := range runs {
		if name != "gate / prod" && cr.Conclusion != "neutral" {
			t.Errorf("%s concluded %q, want neutral (untouched, not rendered); summary:\n%s", name, cr.Conclusion, cr.Summary)
		}
		if len(cr.Annotations) != 0 {
			t.Errorf("%s has annotations on a harmless change: %+v", name, cr.Annotations)
		}
	}
	assertCompleted(t, w.Fake)

	// A second push only fetches what is new.
	first := w.Git.UploadPackBytes()
	head2 := w.Repo.Commit(head, replicas(w, 5), "prod: 5 replicas")
	w.Repo.SetRef("refs/pull/8/head", head2)
	w.Deliver("pull_request", w.PullRequest("synchronize", 8, head2, time.Now().Add(time.Second)), []byte(apptest.Secret))
	w.WaitIdle(2 * time.Minute)
	second := w.Git.UploadPackBytes() - first
	if len(w.RunsFor(head2)) != 3 {
		t.Fatalf("the second push got %d check runs, want 3", len(w.RunsFor(head2)))
	}
	if second*4 > first {
		t.Errorf("the second fetch transferred %d bytes against %d for the first: the object cache is not reused", second, first)
	}
	t.Logf("fetch bytes: first %d, incremental %d", first, second)
}

func TestUnsignedWebhooksAreRefused(t *testing.T) {
	w := newWorld(t, nil, nil)
	head := w.Repo.Commit(w.Repo.Main, nil, "empty")
	w.Repo.SetRef("refs/pull/9/head", head)
	body := w.PullRequest("opened", 9, head, time.Now())
	cases := map[string]func() *http.Response{
		"unsigned":     func() *http.Response { return w.Deliver("pull_request", body, nil) },
		"wrong secret": func() *http.Response { return w.Deliver("pull_request", body, []byte("not the secret")) },
		"tampered": func() *http.Response {
			req, _ := http.NewRequest(http.MethodPost, w.AppURL+app.WebhookPath, strings.NewReader(strings.Replace(string(body), `"number":9`, `"number":10`, 1)))
			req.Header.Set("X-GitHub-Event", "pull_request")
			req.Header.Set(app.SignatureHeader, app.Sign([]byte(apptest.Secret), body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		},
	}
	for name, send := range cases {
		if resp := send(); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s webhook answered %d, want 401", name, resp.StatusCode)
		}
	}
	time.Sleep(200 * time.Millisecond)
	w.WaitIdle(time.Second)
	if log := w.Fake.Log(); len(log) != 0 {
		t.Errorf("refused webhooks reached GitHub: %v", log)
	}
	if n := len(w.Git.Requests()); n != 0 {
		t.Errorf("refused webhooks fetched the repo (%d requests)", n)
	}
}

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
	if cr, ok := runs["gate"]; !ok || cr.Conclusion != "failure" || !strings.Contains(cr.Summary, "refs/pull/13/head") {
		t.Errorf("a fetch failure produced %+v, want a failed gate check run naming the ref", runs)
	}
	assertCompleted(t, w.Fake)
}

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

func TestHealthAndReadiness(t *testing.T) {
	w := newWorld(t, nil, nil)
	if code := status(t, w.AppURL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d", code)
	}
	if code := status(t, w.AppURL+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz answered %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.App.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code := status(t, w.AppURL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz answered %d after shutdown, want 503", code)
	}
}

func names(m map[string]githubfake.CheckRun) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v.Status+"/"+v.Conclusion)
	}
	return out
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// floodStage is a real engine stage with a lot to say: ten long findings
// on every resource's source line.
type floodStage struct{}

func (floodStage) Name() string { return "flood" }

func (floodStage) Check(_ context.Context, in *engine.Input) ([]checks.Finding, error) {
	var out []checks.Finding
	for _, r := range in.Head.Resources {
		for i := 0; i < 10; i++ {
			out = append(out, checks.Finding{Check: "flood", RuleID: fmt.Sprintf("flood/%d", i), Severity: checks.SeverityError, Env: in.Env.Name,
				Resource: &r.ID, Origin: r.Origin, Message: fmt.Sprintf("finding %d on %s: %s", i, r.ID, strings.Repeat("detail ", 300))})
		}
	}
	return out, nil
}

// TestLargeReportsFitGitHubLimits: a report far over GitHub's limits goes
// through the fake GitHub (which answers 422 to anything over them) with
// every finding annotated and the rest of the text behind details_url.
func TestLargeReportsFitGitHubLimits(t *testing.T) {
	base := engineRunner()
	r := app.RunnerFuncs{PlanFunc: base.Plan, RunFunc: func(ctx context.Context, rv *app.Revisions) (*checks.Report, error) {
		cfg, _, err := config.Load(rv.Base, "")
		if err != nil {
			return nil, err
		}
		return engine.Run(ctx, &engine.Request{Head: rv.Head, Base: rv.Base, Config: cfg, Envs: []string{"prod"}, Stages: []engine.Stage{floodStage{}}})
	}}
	w := newWorld(t, r, nil)
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 7), "prod: 7 replicas")
	w.Repo.SetRef("refs/pull/16/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 16, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(2 * time.Minute)
	runs := w.RunsFor(head)
	prod := runs["gate / prod"]
	if prod.Conclusion != "failure" {
		t.Fatalf("gate / prod: %q, want failure", prod.Conclusion)
	}
	if len(prod.Annotations) < 100 {
		t.Fatalf("gate / prod has %d annotations, want every finding (over 100)", len(prod.Annotations))
	}
	if len(prod.Summary) > 65535 || !strings.Contains(prod.Summary, prod.DetailsURL) {
		t.Errorf("summary of %d characters; names the full report: %v", len(prod.Summary), strings.Contains(prod.Summary, prod.DetailsURL))
	}
	full := get(t, prod.DetailsURL)
	if n := strings.Count(full, "| error |"); n != len(prod.Annotations) {
		t.Errorf("the full report lists %d findings, the check run has %d annotations", n, len(prod.Annotations))
	}
	// Environments the plan named but the report left out still complete.
	for _, env := range []string{"dev", "staging"} {
		if cr := runs["gate / "+env]; cr.Status != "completed" || cr.Conclusion != "failure" {
			t.Errorf("gate / %s: %s/%s, want completed failure (missing from the report)", env, cr.Status, cr.Conclusion)
		}
	}
	assertCompleted(t, w.Fake)
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

// TestEveryEventIsHandled replays every event and action the App
// subscribes to, from GitHub's real payloads adapted to the test repo
// (ready_for_review is the opened payload with its action, as GitHub sends
// it), and checks which start a run. A run creates one check run per
// environment as queued, starts it, and completes it.
func TestEveryEventIsHandled(t *testing.T) {
	w := newWorld(t, nil, nil)
	prFor := func(n int, head string) []any {
		return []any{map[string]any{"number": n, "head": map[string]any{"ref": fmt.Sprintf("pr-%d", n), "sha": head}, "base": map[string]any{"ref": "main", "sha": w.Repo.Main}}}
	}
	cases := []struct {
		name    string
		event   string
		payload func(pr int, head string) []byte
		runs    bool
		outcome string // the gate_webhooks_total outcome label
	}{
		{"pull_request.opened", "pull_request", func(pr int, head string) []byte { return w.PullRequest("opened", pr, head, time.Now()) }, true, "queued"},
		{"pull_request.synchronize", "pull_request", func(pr int, head string) []byte { return w.PullRequest("synchronize", pr, head, time.Now()) }, true, "queued"},
		{"pull_request.reopened", "pull_request", func(pr int, head string) []byte { return w.PullRequest("reopened", pr, head, time.Now()) }, true, "queued"},
		{"pull_request.ready_for_review", "pull_request", func(pr int, head string) []byte {
			b := w.PullRequest("opened", pr, head, time.Now())
			return []byte(strings.Replace(string(b), `"action":"opened"`, `"action":"ready_for_review"`, 1))
		}, true, "queued"},
		{"pull_request.labeled", "pull_request", func(pr int, head string) []byte {
			b := w.PullRequest("opened", pr, head, time.Now())
			return []byte(strings.Replace(string(b), `"action":"opened"`, `"action":"labeled"`, 1))
		}, false, "ignored"},
		{"pull_request.closed", "pull_request", func(pr int, head string) []byte { return w.PullRequest("closed", pr, head, time.Now()) }, false, "cancelled"},
		{"check_suite.requested", "check_suite", func(pr int, head string) []byte {
			return w.Payload("check_suite.requested", map[string]any{"check_suite.head_sha": head, "check_suite.pull_requests": prFor(pr, head)})
		}, true, "queued"},
		{"check_suite.rerequested", "check_suite", func(pr int, head string) []byte {
			return w.Payload("check_suite.rerequested", map[string]any{"check_suite.head_sha": head, "check_suite.pull_requests": prFor(pr, head)})
		}, true, "queued"},
		{"check_suite.requested without a pull request", "check_suite", func(pr int, head string) []byte {
			return w.Payload("check_suite.requested", map[string]any{"check_suite.head_sha": head, "check_suite.pull_requests": []any{}})
		}, false, "ignored"},
		{"check_run.rerequested (octokit payload as is)", "check_run", func(pr int, head string) []byte {
			return w.Payload("check_run.rerequested", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": prFor(pr, head)})
		}, true, "queued"},
		{"check_run.rerequested (GitHub's OpenAPI example)", "check_run", func(pr int, head string) []byte {
			return w.Payload("check_run.rerequested.openapi-example", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": prFor(pr, head)})
		}, true, "queued"},
		{"check_run.requested_action rerun", "check_run", func(pr int, head string) []byte {
			return w.Payload("check_run.requested_action", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": prFor(pr, head), "requested_action.identifier": "rerun"})
		}, true, "queued"},
		{"check_run.requested_action of another button", "check_run", func(pr int, head string) []byte {
			return w.Payload("check_run.requested_action", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": prFor(pr, head), "requested_action.identifier": "fix-it"})
		}, false, "ignored"},
		{"check_run.created (gate's own check runs)", "check_run", func(pr int, head string) []byte {
			b := w.Payload("check_run.rerequested", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": prFor(pr, head)})
			return []byte(strings.Replace(string(b), `"action":"rerequested"`, `"action":"created"`, 1))
		}, false, "ignored"},
		{"installation.created", "installation", func(int, string) []byte { return w.Payload("installation.created", nil) }, false, "handled"},
		{"installation.deleted", "installation", func(int, string) []byte {
			b := w.Payload("installation.created", nil)
			return []byte(strings.Replace(string(b), `"action":"created"`, `"action":"deleted"`, 1))
		}, false, "handled"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pr := 100 + i
			head := w.Repo.Commit(w.Repo.Main, nil, tc.name)
			w.Repo.SetRef(fmt.Sprintf("refs/pull/%d/head", pr), head)
			action := tc.name[strings.IndexByte(tc.name, '.')+1:]
			if i := strings.IndexAny(action, " "); i > 0 {
				action = action[:i]
			}
			body := tc.payload(pr, head)
			if !strings.Contains(string(body), `"action":"`+action+`"`) {
				t.Fatalf("payload is not a %s delivery: %.200s", action, body)
			}
			resp := w.Deliver(tc.event, body, []byte(apptest.Secret))
			if resp.StatusCode/100 != 2 {
				t.Fatalf("%s answered %d", tc.name, resp.StatusCode)
			}
			w.WaitIdle(time.Minute)
			runs := w.RunsFor(head)
			if !tc.runs {
				if len(runs) != 0 {
					t.Errorf("%s started a run: %v", tc.name, names(runs))
				}
			} else {
				if len(runs) != 3 {
					t.Fatalf("%s: %d check runs, want 3 (one per environment): %v\n%s", tc.name, len(runs), names(runs), w.LogBuf.String())
				}
				for name, cr := range runs {
					if got := strings.Join(cr.Statuses, " -> "); got != "queued -> in_progress -> completed" {
						t.Errorf("%s went %s, want queued -> in_progress -> completed", name, got)
					}
					if !strings.HasPrefix(name, "gate / ") {
						t.Errorf("check run named %q, want gate / <env>", name)
					}
				}
			}
			m := get(t, w.AppURL+"/metrics")
			want := fmt.Sprintf(`gate_webhooks_total{action=%q,event=%q,outcome=%q}`, action, tc.event, tc.outcome)
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		})
	}
	assertCompleted(t, w.Fake)
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

// TestRerunOfForkCheckRun: GitHub sends check_run.rerequested with no pull
// requests when the head is a fork's; the check run's external_id still
// leads to the pull request and its base.
func TestRerunOfForkCheckRun(t *testing.T) {
	w := newWorld(t, nil, nil)
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas (from a fork)")
	w.Repo.SetRef("refs/pull/18/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 18, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	prod := w.RunsFor(head)["gate / prod"]
	if prod.ExternalID == "" {
		t.Fatal("check runs carry no external_id")
	}
	body := w.Payload("check_run.rerequested", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": []any{},
		"check_run.external_id": prod.ExternalID, "check_run.id": prod.ID, "check_run.check_suite.pull_requests": []any{}})
	w.Deliver("check_run", body, []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	again := w.RunsFor(head)
	if cr := again["gate / prod"]; cr.ID == prod.ID || cr.Conclusion != "success" {
		t.Errorf("after the Re-run: gate / prod id %d (was %d), %s; want a new successful check run", cr.ID, prod.ID, cr.Conclusion)
	}
	// An external_id naming another repository is not followed.
	other := strings.Replace(prod.ExternalID, apptest.FullName, "evil/repo", 1)
	body = w.Payload("check_run.rerequested", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": []any{}, "check_run.external_id": other})
	before := len(w.Fake.CheckRuns())
	w.Deliver("check_run", body, []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	if n := len(w.Fake.CheckRuns()); n != before {
		t.Errorf("an external_id of another repository started a run (%d new check runs)", n-before)
	}
	assertCompleted(t, w.Fake)
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
	if cr := w.RunsFor(head2)["gate"]; cr.Conclusion != "failure" || !strings.Contains(cr.Summary, "fetch") {
		t.Errorf("a missing repository: %+v, want a failed gate check run saying the fetch failed", w.RunsFor(head2))
	}
	if m := get(t, w.AppURL+"/metrics"); !strings.Contains(m, `gate_repo_fetches_total{outcome="retried"} 3`) {
		t.Errorf("a 404 was retried")
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

// TestRerunAllOfForkSuite: "Re-run all checks" on a fork's head sends
// check_suite.rerequested with no pull requests; gate finds the pull
// request from its own check runs on the head and checks it again.
func TestRerunAllOfForkSuite(t *testing.T) {
	w := newWorld(t, nil, nil)
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas (from a fork)")
	w.Repo.SetRef("refs/pull/27/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 27, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	first := w.RunsFor(head)["gate / prod"]
	suite := w.Payload("check_suite.rerequested", map[string]any{"check_suite.head_sha": head, "check_suite.pull_requests": []any{}})
	if resp := w.Deliver("check_suite", suite, []byte(apptest.Secret)); resp.StatusCode != http.StatusOK {
		t.Fatalf("check_suite.rerequested answered %d", resp.StatusCode)
	}
	w.WaitIdle(time.Minute)
	again := w.RunsFor(head)["gate / prod"]
	if again.ID == first.ID || again.Conclusion != "success" {
		t.Errorf("after Re-run all: gate / prod id %d (was %d) %s; want a new successful check run", again.ID, first.ID, again.Conclusion)
	}
	if n := len(w.Fake.CheckRuns()); n != 6 {
		t.Errorf("%d check runs, want 6 (one Re-run of the pull request, not one per check run)", n)
	}
	// A head gate never checked stays unchecked.
	other := w.Repo.Commit(w.Repo.Main, nil, "no pull request")
	w.Deliver("check_suite", w.Payload("check_suite.rerequested", map[string]any{"check_suite.head_sha": other, "check_suite.pull_requests": []any{}}), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	if n := len(w.RunsFor(other)); n != 0 {
		t.Errorf("a head without gate check runs got %d", n)
	}
	assertCompleted(t, w.Fake)
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

// TestUntouchedEnvsAreCreatedNeutralInOneRequest: a pull request that
// changes prod only. The environments it does not touch get their check
// run in one request, created completed neutral (never queued or started
// first); prod goes queued, in progress, completed. Two writes for prod,
// one for each of the others.
func TestUntouchedEnvsAreCreatedNeutralInOneRequest(t *testing.T) {
	w := newWorld(t, triageRunner(), nil)
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 5), "prod: 5 replicas")
	w.Repo.SetRef("refs/pull/26/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 26, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	runs := w.RunsFor(head)
	if len(runs) != 3 {
		t.Fatalf("check runs %v, want 3", names(runs))
	}
	for name, cr := range runs {
		got := strings.Join(cr.Statuses, " -> ")
		switch name {
		case "gate / prod":
			if got != "queued -> in_progress -> completed" || cr.Conclusion != "success" {
				t.Errorf("%s went %s to %q, want queued -> in_progress -> completed success", name, got, cr.Conclusion)
			}
		default:
			if got != "completed" || cr.Conclusion != "neutral" {
				t.Errorf("%s went %s to %q, want created completed neutral in one request", name, got, cr.Conclusion)
			}
			if !strings.Contains(cr.Summary, "Not rendered: none of the files this pull request changes reach this environment") {
				t.Errorf("%s does not say why it is neutral:\n%s", name, cr.Summary)
			}
			if resp, err := http.Get(cr.DetailsURL); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("%s: Details does not answer: %v %v", name, err, resp)
			}
		}
	}
	// The touched one is created first: a re-run that finds only completed
	// check runs (the neutral ones) may then trust that the verdict was
	// published, never that prod's check run was not yet created.
	for name, cr := range runs {
		if name != "gate / prod" && cr.ID < runs["gate / prod"].ID {
			t.Errorf("%s (id %d) was created before gate / prod (id %d)", name, cr.ID, runs["gate / prod"].ID)
		}
	}
	if c, u := w.Fake.Count("checks/create"), w.Fake.Count("checks/update"); c != 3 || u != 2 {
		t.Errorf("%d creates and %d updates, want 3 and 2 (prod: create queued, start, complete; the others: one create each)", c, u)
	}
	assertCompleted(t, w.Fake)
}
