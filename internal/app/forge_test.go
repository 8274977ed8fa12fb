package app_test

import (
	"context"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/internal/app"
	"github.com/gate-ops/gate/internal/testing/apptest"
	"github.com/gate-ops/gate/internal/testing/gitserver"
)

// memForge is a second forge in a few lines: check runs are map entries,
// the git token is a constant. It is all an adapter has to write.
type memForge struct {
	mu        sync.Mutex
	status    map[string]string // head/env -> status or conclusion
	announced map[string][]string
	tokens    int
}

const memToken = "mem-forge-token"

func (f *memForge) set(head, env, s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[head+"/"+env] = s
}

func (f *memForge) get(head, env string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status[head+"/"+env]
}

func (f *memForge) Checks(_ context.Context, j *app.Job, _ *slog.Logger) (app.Checks, error) {
	return &memChecks{f: f, head: j.HeadSHA}, nil
}

func (f *memForge) Announce(_ context.Context, j *app.Job, names []string) func(context.Context, error) {
	f.mu.Lock()
	f.announced[j.HeadSHA] = slices.Clone(names)
	f.mu.Unlock()
	for _, n := range names {
		f.set(j.HeadSHA, n, "queued")
	}
	return nil
}

func (f *memForge) GitToken(context.Context, *app.Job, bool) (string, error) {
	f.mu.Lock()
	f.tokens++
	f.mu.Unlock()
	return memToken, nil
}

func (f *memForge) Transient(error) bool                     { return false }
func (f *memForge) Run(ctx context.Context)                  { <-ctx.Done() }
func (f *memForge) Flush(context.Context)                    {}
func (f *memForge) Pending() int                             { return 0 }
func (c *memChecks) Keep()                                   {}
func (c *memChecks) Done(context.Context)                    {}
func (c *memChecks) Published(context.Context) (bool, error) { return false, nil }

type memChecks struct {
	f    *memForge
	head string
	envs []string
}

func (c *memChecks) Create(_ context.Context, envs []checks.Env, untouched *checks.Report) error {
	for _, e := range envs {
		c.envs = append(c.envs, e.Name)
		c.f.set(c.head, e.Name, "in_progress")
	}
	if untouched != nil {
		for _, er := range untouched.Envs {
			c.f.set(c.head, er.Env.Name, report.ConclusionNeutral)
		}
	}
	return nil
}

func (c *memChecks) Publish(_ context.Context, rep *checks.Report) bool {
	for i := range rep.Envs {
		if c.f.get(c.head, rep.Envs[i].Env.Name) == report.ConclusionNeutral {
			continue
		}
		c.f.set(c.head, rep.Envs[i].Env.Name, report.EnvCheckRun(rep, &rep.Envs[i], report.CheckRunOptions{}).Conclusion)
	}
	return true
}

func (c *memChecks) Fail(_ context.Context, err error) {
	for _, e := range c.envs {
		c.f.set(c.head, e, "failure: "+err.Error())
	}
}

func (c *memChecks) Close(_ context.Context, reason error) { c.Fail(context.Background(), reason) }

// TestQueueAndRunThroughAnotherForge drives the forge-independent part
// (queue, fetch, run) through memForge: no GitHub anywhere (no fake, no
// App id or key). A change to prod checks prod and leaves dev and staging
// neutral; the next push of the repository is announced with the
// environments of its last plan before Submit returns.
func TestQueueAndRunThroughAnotherForge(t *testing.T) {
	root := t.TempDir()
	repo := apptest.NewRepo(t, root, example)
	git, err := gitserver.New(root, func(_, user, pass string) bool { return user == "x-access-token" && pass == memToken })
	if err != nil {
		t.Fatal(err)
	}
	gs := httptest.NewServer(git)
	t.Cleanup(gs.Close)
	f := &memForge{status: map[string]string{}, announced: map[string][]string{}}
	a, err := app.New(app.Config{WebhookSecret: "s", CacheDir: t.TempDir(), Workers: 1, Runner: triageRunner(), Forge: f,
		RetryBase: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	submit := func(pr int, head string) {
		t.Helper()
		repo.SetRef("refs/pull/"+strconv.Itoa(pr)+"/head", head)
		j := &app.Job{Repo: apptest.FullName, Owner: apptest.Owner, Name: apptest.Name, CloneURL: gs.URL + "/" + apptest.FullName + ".git",
			Installation: 1, PR: pr, HeadSHA: head, BaseRef: "main", BaseSHA: repo.Main, EventTime: time.Now(), Delivery: "d" + strconv.Itoa(pr), Trigger: "mem.push"}
		if out, err := a.Submit(context.Background(), j); err != nil || out != "queued" {
			t.Fatalf("submit: %q %v", out, err)
		}
	}
	waitIdle := func() {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !a.Idle(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the App is still busy")
			}
		}
	}
	d := string(repo.Read("overlays/prod/deployment-prod.yaml"))
	head := repo.Commit(repo.Main, map[string][]byte{"overlays/prod/deployment-prod.yaml": []byte(strings.Replace(d, "replicas: 3", "replicas: 4", 1))}, "prod: 4")
	submit(1, head)
	waitIdle()
	want := map[string]string{"dev": "neutral", "staging": "neutral", "prod": "success"}
	for env, c := range want {
		if got := f.get(head, env); got != c {
			t.Errorf("%s: %q, want %q", env, got, c)
		}
	}
	if f.tokens == 0 {
		t.Error("the fetch did not ask the forge for a token")
	}
	if len(f.announced[head]) != 0 {
		t.Errorf("announced %v for a repository never planned", f.announced[head])
	}

	head2 := repo.Commit(repo.Main, nil, "nothing")
	submit(2, head2)
	f.mu.Lock()
	got := slices.Clone(f.announced[head2])
	f.mu.Unlock()
	sort.Strings(got)
	if strings.Join(got, ",") != "dev,prod,staging" {
		t.Errorf("announced %v when the job was submitted, want the last plan's dev, prod, staging", got)
	}
	waitIdle()
	for env := range want {
		if got := f.get(head2, env); got != "neutral" {
			t.Errorf("empty change, %s: %q, want neutral", env, got)
		}
	}
}

// TestOnlyTheGitHubAdapterImportsGoGitHub keeps the seam: the queue,
// fetch and run files of internal/app import neither go-github nor
// go-githubapp; GitHub's adapter is the github*.go files.
func TestOnlyTheGitHubAdapterImportsGoGitHub(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	core := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.HasPrefix(name, "github") {
			continue
		}
		core++
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/google/go-github/") || strings.HasPrefix(p, "github.com/palantir/go-githubapp") {
				t.Errorf("%s imports %s: only the GitHub adapter (github*.go) may", name, p)
			}
		}
	}
	if core < 5 {
		t.Fatalf("only %d forge-independent files found", core)
	}
}
