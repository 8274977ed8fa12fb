package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
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
