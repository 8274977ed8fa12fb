// Package apptest stands up the App's whole world for tests: a fake GitHub
// (internal/testing/githubfake) that validates every request against GitHub's
// OpenAPI description, a real git server (git http-backend) serving a test
// ops repo built with git from testdata, the App itself on loopback, and
// GitHub's real webhook payloads (testdata/webhooks, from octokit/webhooks,
// MIT) adapted to that repo and signed.
package apptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"embed"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/internal/app"
	"github.com/gate-ops/gate/internal/testing/githubfake"
	"github.com/gate-ops/gate/internal/testing/gitserver"
)

//go:embed testdata/webhooks/*.json
var webhooks embed.FS

// Fixed identities of the test world.
const (
	AppID          = 4242
	InstallationID = 77001
	Owner          = "gate-ops"
	Name           = "shop-ops"
	FullName       = Owner + "/" + Name
	Secret         = "It's a Secret to Everybody"
)

// World is one test world.
type World struct {
	T       testing.TB
	Fake    *githubfake.Fake
	Git     *gitserver.Server
	GitURL  string
	App     *app.App
	AppURL  string
	Repo    *Repo
	Key     *rsa.PrivateKey
	LogBuf  *SyncBuffer
	fakeSrv *httptest.Server
}

// Options tune the world.
type Options struct {
	// Example is the ops repo directory copied into the test repo.
	Example string
	Runner  app.Runner
	Workers int
	// Configure edits the App config before it starts.
	Configure func(*app.Config)
	// NoApp builds the world without an in-process App: the test runs
	// `gate serve` processes against it (StartServe).
	NoApp bool
}

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu  chanMutex
	buf bytes.Buffer
}

type chanMutex chan struct{}

func (m chanMutex) lock()   { m <- struct{}{} }
func (m chanMutex) unlock() { <-m }

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.lock()
	defer b.mu.unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *SyncBuffer) String() string {
	b.mu.lock()
	defer b.mu.unlock()
	return b.buf.String()
}

// New builds the world: repo, git server, fake GitHub, App.
func New(t testing.TB, o Options) *World {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	w := &World{T: t, Key: key, LogBuf: &SyncBuffer{mu: make(chanMutex, 1)}}
	w.Fake, err = githubfake.New(githubfake.Options{AppID: AppID, AppKey: &key.PublicKey, Installations: map[int64][]string{InstallationID: {FullName}}})
	if err != nil {
		t.Fatal(err)
	}
	w.fakeSrv = httptest.NewServer(w.Fake)
	t.Cleanup(w.fakeSrv.Close)

	gitRoot := t.TempDir()
	w.Repo = NewRepo(t, gitRoot, o.Example)
	w.Git, err = gitserver.New(gitRoot, func(repo, user, pass string) bool {
		return user == "x-access-token" && w.Fake.TokenValid(strings.TrimSuffix(repo, ".git"), pass)
	})
	if err != nil {
		t.Fatal(err)
	}
	gs := httptest.NewServer(w.Git)
	t.Cleanup(gs.Close)
	w.GitURL = gs.URL

	if o.NoApp {
		return w
	}
	appSrv := httptest.NewUnstartedServer(nil)
	w.AppURL = "http://" + appSrv.Listener.Addr().String()
	cfg := app.Config{
		AppID:          AppID,
		PrivateKey:     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		WebhookSecret:  Secret,
		GitHubURL:      w.fakeSrv.URL + "/api/v3/",
		PublicURL:      w.AppURL,
		CacheDir:       t.TempDir(),
		Workers:        o.Workers,
		Runner:         o.Runner,
		RetryBase:      20 * time.Millisecond,
		MaxRetryWait:   5 * time.Second,
		AttemptTimeout: 5 * time.Second,
		Logger:         slog.New(slog.NewJSONHandler(w.LogBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	w.App, err = app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	appSrv.Config.Handler = w.App.Handler()
	appSrv.Start()
	t.Cleanup(appSrv.Close)
	w.App.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.App.Shutdown(ctx)
	})
	return w
}

// CloneURL is the repo's clone URL on the git server.
func (w *World) CloneURL() string { return w.GitURL + "/" + FullName + ".git" }

// Payload loads a real webhook payload (file name without .json) and
// adapts it to the test world: installation, repository, and the given
// fields set by dotted path.
func (w *World) Payload(fixture string, set map[string]any) []byte {
	w.T.Helper()
	raw, err := fs.ReadFile(webhooks, "testdata/webhooks/"+fixture+".json")
	if err != nil {
		w.T.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		w.T.Fatal(err)
	}
	m["installation"] = map[string]any{"id": InstallationID, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNzcwMDE="}
	if repo, ok := m["repository"].(map[string]any); ok {
		repo["full_name"] = FullName
		repo["name"] = Name
		repo["clone_url"] = w.CloneURL()
		repo["html_url"] = "https://github.com/" + FullName
		if owner, ok := repo["owner"].(map[string]any); ok {
			owner["login"] = Owner
		}
	}
	for path, v := range set {
		setPath(m, strings.Split(path, "."), v)
	}
	out, err := json.Marshal(m)
	if err != nil {
		w.T.Fatal(err)
	}
	return out
}

// setPath sets a dotted path in a decoded JSON tree; "0" indexes arrays.
func setPath(node any, path []string, v any) {
	switch n := node.(type) {
	case map[string]any:
		if len(path) == 1 {
			n[path[0]] = v
			return
		}
		child, ok := n[path[0]]
		if !ok || child == nil {
			child = map[string]any{}
			n[path[0]] = child
		}
		setPath(child, path[1:], v)
	case []any:
		var i int
		fmt.Sscanf(path[0], "%d", &i)
		if i < len(n) {
			if len(path) == 1 {
				n[i] = v
				return
			}
			setPath(n[i], path[1:], v)
		}
	}
}

// PullRequest returns a pull_request delivery for pr at head.
func (w *World) PullRequest(action string, pr int, head string, updated time.Time) []byte {
	return w.Payload("pull_request."+action, map[string]any{
		"number":                     pr,
		"pull_request.number":        pr,
		"pull_request.head.sha":      head,
		"pull_request.head.ref":      fmt.Sprintf("pr-%d", pr),
		"pull_request.base.ref":      "main",
		"pull_request.base.sha":      w.Repo.Main,
		"pull_request.updated_at":    updated.UTC().Format(time.RFC3339),
		"pull_request.html_url":      fmt.Sprintf("https://github.com/%s/pull/%d", FullName, pr),
		"pull_request.head.repo":     nil,
		"pull_request.base.repo.url": "https://api.github.com/repos/" + FullName,
	})
}

// Deliver signs body with secret (nil: unsigned) and posts it as event.
func (w *World) Deliver(event string, body []byte, secret []byte) *http.Response {
	w.T.Helper()
	return w.DeliverID(event, fmt.Sprintf("%x", time.Now().UnixNano()), body, secret)
}

// DeliverID is Deliver with a given X-GitHub-Delivery id.
func (w *World) DeliverID(event, delivery string, body []byte, secret []byte) *http.Response {
	w.T.Helper()
	return w.DeliverTo(w.AppURL, event, delivery, body, secret)
}

// DeliverTo is DeliverID to the App at appURL (one of several replicas).
func (w *World) DeliverTo(appURL, event, delivery string, body []byte, secret []byte) *http.Response {
	w.T.Helper()
	req, err := http.NewRequest(http.MethodPost, appURL+app.WebhookPath, bytes.NewReader(body))
	if err != nil {
		w.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("User-Agent", "GitHub-Hookshot/test")
	if secret != nil {
		req.Header.Set(app.SignatureHeader, app.Sign(secret, body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &http.Response{StatusCode: 0, Status: err.Error()}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// WaitIdle waits until the App has nothing queued or running.
func (w *World) WaitIdle(timeout time.Duration) {
	w.T.Helper()
	deadline := time.Now().Add(timeout)
	for !w.App.Idle() {
		if time.Now().After(deadline) {
			w.T.Fatalf("the App is still busy after %s; log:\n%s", timeout, tail(w.LogBuf.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RunsFor returns the fake's check runs for head, by name (the latest
// check run of each name).
func (w *World) RunsFor(head string) map[string]githubfake.CheckRun {
	out := map[string]githubfake.CheckRun{}
	for _, cr := range w.Fake.CheckRuns() {
		if cr.HeadSHA == head {
			out[cr.Name] = cr
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Repo is the test ops repo: a work clone pushing to a bare repo the git
// server serves.
type Repo struct {
	t    testing.TB
	Work string
	Bare string
	// Main is the commit of main after setup.
	Main string
}

// NewRepo creates <root>/gate-ops/shop-ops.git with example's files on main.
func NewRepo(t testing.TB, root, example string) *Repo {
	t.Helper()
	r := &Repo{t: t, Work: t.TempDir(), Bare: filepath.Join(root, Owner, Name+".git")}
	if err := os.MkdirAll(filepath.Dir(r.Bare), 0o755); err != nil {
		t.Fatal(err)
	}
	r.git(filepath.Dir(r.Bare), "init", "-q", "--bare", "-b", "main", r.Bare)
	r.git(r.Work, "init", "-q", "-b", "main")
	r.git(r.Work, "config", "user.email", "dev@example.com")
	r.git(r.Work, "config", "user.name", "Dev")
	r.git(r.Work, "config", "commit.gpgsign", "false")
	if example != "" {
		if err := os.CopyFS(r.Work, os.DirFS(example)); err != nil {
			t.Fatal(err)
		}
	}
	r.git(r.Work, "add", "-A")
	r.git(r.Work, "commit", "-q", "-m", "initial ops repo")
	r.git(r.Work, "remote", "add", "origin", r.Bare)
	r.git(r.Work, "push", "-q", "origin", "main")
	r.Main = r.git(r.Work, "rev-parse", "HEAD")
	return r
}

// Commit creates a commit on top of parent with files changed (nil content
// deletes) and returns its SHA. It does not move any branch.
func (r *Repo) Commit(parent string, files map[string][]byte, msg string) string {
	r.t.Helper()
	r.git(r.Work, "checkout", "-q", "--detach", parent)
	for name, content := range files {
		p := filepath.Join(r.Work, filepath.FromSlash(name))
		if content == nil {
			r.git(r.Work, "rm", "-q", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.git(r.Work, "add", name)
	}
	r.git(r.Work, "commit", "-q", "--allow-empty", "-m", msg)
	return r.git(r.Work, "rev-parse", "HEAD")
}

// SetRef points a ref of the served repo at sha (refs/pull/N/head as
// GitHub keeps it, or a branch).
func (r *Repo) SetRef(ref, sha string) {
	r.t.Helper()
	r.git(r.Work, "push", "-q", "-f", "origin", sha+":"+ref)
}

// Read returns a file of the example at main.
func (r *Repo) Read(name string) []byte {
	r.t.Helper()
	out := r.git(r.Work, "show", r.Main+":"+name)
	return []byte(out + "\n")
}

func (r *Repo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
