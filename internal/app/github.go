package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/palantir/go-githubapp/githubapp"
)

// WebhookPath is where GitHub delivers webhooks.
const WebhookPath = "/api/github/hook"

// maxPayload is GitHub's 25 MB webhook cap plus headroom.
const maxPayload = 26 << 20

// githubForge is GitHub's adapter (the github*.go files): webhooks in
// (go-githubapp's dispatcher after the signature check), check runs out
// (go-github), installation tokens for the API and for git, the shared
// secondary-rate-limit budget and the completions GitHub did not take yet.
// It embeds the App for the services both parts share (configuration,
// logger, metrics, report store, details URLs).
type githubForge struct {
	*App
	cc     githubapp.ClientCreator
	tr     http.RoundTripper
	tokens *tokenCache
	limits *limits
	// completions wait to be sent again.
	completions *completions
	// resolveQ holds re-requested suites whose pull requests must be
	// looked up (bounded); resolving counts them until done.
	resolveQ  chan *Job
	resolving atomic.Int32
	// announceOff is when (Unix ns) webhooks create check runs queued
	// again after one whose creates all failed (0: now).
	announceOff atomic.Int64
}

var (
	_ Forge    = (*githubForge)(nil)
	_ Webhooks = (*githubForge)(nil)
)

// newGitHub builds GitHub's adapter from the App's configuration.
func newGitHub(a *App) (*githubForge, error) {
	cfg := &a.cfg
	if cfg.GitHubURL == "" {
		cfg.GitHubURL = "https://api.github.com/"
	}
	if !strings.HasSuffix(cfg.GitHubURL, "/") {
		cfg.GitHubURL += "/"
	}
	if _, err := url.Parse(cfg.GitHubURL); err != nil {
		return nil, fmt.Errorf("GitHub URL %q: %w", cfg.GitHubURL, err)
	}
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tr := &transport{next: base, m: a.m, policy: retryPolicy{Attempts: cfg.Retries, Base: cfg.RetryBase, MaxWait: cfg.MaxRetryWait, AttemptTimeout: cfg.AttemptTimeout, SecondaryWait: time.Minute}}
	ghcfg := githubapp.Config{V3APIURL: cfg.GitHubURL, V4APIURL: strings.TrimSuffix(strings.TrimSuffix(cfg.GitHubURL, "/"), "/v3") + "/graphql"}
	ghcfg.App.IntegrationID = cfg.AppID
	ghcfg.App.PrivateKey = string(cfg.PrivateKey)
	ghcfg.App.WebhookSecret = cfg.WebhookSecret
	cc, err := githubapp.NewDefaultCachingClientCreator(ghcfg,
		githubapp.WithClientUserAgent("gate-app"),
		githubapp.WithTransport(tr),
	)
	if err != nil {
		return nil, fmt.Errorf("GitHub client: %w", err)
	}
	// Check the key now, not at the first webhook.
	if _, err := cc.NewAppClient(); err != nil {
		return nil, fmt.Errorf("GitHub App private key: %w", err)
	}
	g := &githubForge{App: a, cc: cc, tr: tr, limits: &limits{m: map[int64]limitEntry{}},
		completions: &completions{max: 10000, m: a.m}, resolveQ: make(chan *Job, 256)}
	g.tokens = &tokenCache{cc: cc, m: map[tokenKey]*github.InstallationToken{}}
	tr.onLimit = func(ctx context.Context, until time.Time) {
		if inst, ok := ctx.Value(instKey{}).(int64); ok {
			g.limits.set(ctx, inst, until, a.log)
		}
	}
	return g, nil
}

// Webhook implements Webhooks: signed deliveries at WebhookPath.
func (a *githubForge) Webhook() (string, http.Handler) {
	h := &handler{a: a, events: []string{"pull_request", "check_suite", "check_run", "installation", "installation_repositories"}}
	dispatcher := githubapp.NewEventDispatcher([]githubapp.EventHandler{h}, a.cfg.WebhookSecret,
		githubapp.WithErrorCallback(a.onDispatchError))
	return WebhookPath, a.verify(dispatcher)
}

// Checks implements Forge: the job's check runs through go-github.
func (a *githubForge) Checks(_ context.Context, j *Job, log *slog.Logger) (Checks, error) {
	gh, err := a.client(j.Installation)
	if err != nil {
		return nil, fmt.Errorf("no GitHub client for installation %d: %w", j.Installation, err)
	}
	return &publisher{a: a, j: j, gh: gh, log: log, ids: map[string]int64{}, pre: map[string]bool{}}, nil
}

// Announce implements Forge (see announce.go).
func (a *githubForge) Announce(ctx context.Context, j *Job, names []string) func(context.Context, error) {
	ids := a.announce(ctx, j, names)
	if len(ids) == 0 {
		return nil
	}
	return func(ctx context.Context, cause error) { a.withdraw(ctx, j, ids, cause) }
}

// GitToken implements Forge: an installation token restricted to the
// repository and contents:read.
func (a *githubForge) GitToken(ctx context.Context, j *Job, fresh bool) (string, error) {
	if fresh {
		a.tokens.forget(j.Installation)
	}
	return a.tokens.get(ctx, j.Installation, j.Owner, j.Name)
}

// Transient implements Forge: GitHub's 5xx and rate limits.
func (a *githubForge) Transient(err error) bool {
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		return worthRetrying(err)
	}
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	return errors.As(err, &rl) || errors.As(err, &abuse)
}

// Run implements Forge: completions GitHub did not take are sent again,
// and re-requested suites of forks' heads are resolved, until ctx ends.
func (a *githubForge) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.resolver(ctx)
	}()
	a.retryCompletions(ctx)
	<-done
}

// Flush implements Forge.
func (a *githubForge) Flush(ctx context.Context) { a.flushCompletions(ctx) }

// Pending implements Forge.
func (a *githubForge) Pending() int { return int(a.resolving.Load()) + a.completions.len() }

// verify answers 401 to a delivery whose X-Hub-Signature-256 does not match
// its body, before anything is parsed or queued.
func (a *githubForge) verify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		event := r.Header.Get("X-GitHub-Event")
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
		if err != nil {
			a.m.webhooks.WithLabelValues(eventLabel(event), "", "invalid").Inc()
			http.Error(w, "payload too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		if err := VerifySignature(r.Header.Get(SignatureHeader), body, []byte(a.cfg.WebhookSecret)); err != nil {
			a.m.webhooks.WithLabelValues(eventLabel(event), "", "unauthorized").Inc()
			a.log.Warn("webhook refused", "delivery", r.Header.Get("X-GitHub-Delivery"), "event", event, "err", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// eventLabel is the metrics label of a delivery's event before its
// signature is checked. The header is the sender's to choose and is not
// signed: every new value would be a new time series, and prometheus panics
// on a label that is not UTF-8 (found by FuzzWebhook). Unknown events count
// as "other".
func eventLabel(event string) string {
	switch event {
	case "pull_request", "check_suite", "check_run", "installation", "installation_repositories", "ping", "push":
		return event
	}
	return "other"
}

func (a *githubForge) onDispatchError(w http.ResponseWriter, r *http.Request, err error) {
	var ve githubapp.ValidationError
	switch {
	case errors.As(err, &ve):
		a.log.Warn("webhook invalid", "delivery", ve.DeliveryID, "event", ve.EventType, "err", ve.Cause)
		http.Error(w, "invalid webhook: "+ve.Cause.Error(), http.StatusBadRequest)
	case errors.Is(err, githubapp.ErrCapacityExceeded):
		http.Error(w, "queue full, try again", http.StatusServiceUnavailable)
	case errors.Is(err, errQueue):
		a.log.Error("webhook not queued", "delivery", r.Header.Get("X-GitHub-Delivery"), "err", err)
		http.Error(w, "could not queue the webhook; redeliver it", http.StatusServiceUnavailable)
	default:
		a.log.Error("webhook handling failed", "delivery", r.Header.Get("X-GitHub-Delivery"), "err", err)
		http.Error(w, "could not handle the webhook", http.StatusBadRequest)
	}
}

type tokenKey struct {
	inst int64
	repo string
}

// tokenCache mints installation tokens restricted to one repository and to
// contents:read, for git fetches, through go-github's app client (JWT
// signed by the library), and reuses them until shortly before expiry.
type tokenCache struct {
	cc githubapp.ClientCreator
	mu sync.Mutex
	m  map[tokenKey]*github.InstallationToken
}

func (t *tokenCache) get(ctx context.Context, inst int64, owner, repo string) (string, error) {
	k := tokenKey{inst, owner + "/" + repo}
	if repo == "" {
		k.repo = "" // the API token: the installation's own permissions
	}
	t.mu.Lock()
	if tok, ok := t.m[k]; ok && time.Until(tok.GetExpiresAt().Time) > 5*time.Minute {
		t.mu.Unlock()
		return tok.GetToken(), nil
	}
	t.mu.Unlock()
	client, err := t.cc.NewAppClient()
	if err != nil {
		return "", err
	}
	var opts *github.InstallationTokenOptions
	if repo != "" {
		opts = &github.InstallationTokenOptions{
			Repositories: []string{repo},
			Permissions:  &github.InstallationPermissions{Contents: github.String("read")},
		}
	}
	tok, _, err := client.Apps.CreateInstallationToken(ctx, inst, opts)
	if err != nil {
		return "", fmt.Errorf("create installation token: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, v := range t.m {
		if time.Until(v.GetExpiresAt().Time) < 5*time.Minute {
			delete(t.m, key)
		}
	}
	t.m[k] = tok
	return tok.GetToken(), nil
}

func (t *tokenCache) forget(inst int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.m {
		if k.inst == inst {
			delete(t.m, k)
		}
	}
}

// client is a GitHub API client acting as the installation.
func (a *githubForge) client(inst int64) (*github.Client, error) {
	gh := github.NewClient(&http.Client{Transport: &installTransport{tokens: a.tokens, limits: a.limits, maxWait: a.cfg.MaxRetryWait, inst: inst, next: a.tr}})
	base, err := url.Parse(a.cfg.GitHubURL)
	if err != nil {
		return nil, err
	}
	gh.BaseURL = base
	gh.UserAgent = "gate-app"
	return gh, nil
}

// installTransport authenticates API requests with the installation's
// cached token. A 401 (the token revoked, the installation suspended and
// restored) drops the cached token and tries once more with a new one, so
// the App is not silenced until the old token would have expired.
type installTransport struct {
	tokens  *tokenCache
	limits  *limits
	maxWait time.Duration
	inst    int64
	next    http.RoundTripper
}

// instKey carries the installation of an API request down to the
// transport that sees GitHub's rate-limit answers.
type instKey struct{}

func (t *installTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// One budget per installation across workers and replicas: a
	// Retry-After any of them got holds every request back.
	if err := t.limits.wait(req.Context(), t.inst, t.maxWait); err != nil {
		return nil, err
	}
	req = req.WithContext(context.WithValue(req.Context(), instKey{}, t.inst))
	send := func() (*http.Response, error) {
		tok, err := t.tokens.get(req.Context(), t.inst, "", "")
		if err != nil {
			return nil, fmt.Errorf("installation token: %w", err)
		}
		r := req.Clone(req.Context())
		if req.GetBody != nil {
			if r.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		r.Header.Set("Authorization", "token "+tok)
		return t.next.RoundTrip(r)
	}
	resp, err := send()
	if err != nil || resp.StatusCode != http.StatusUnauthorized || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	t.tokens.forget(t.inst)
	return send()
}

// inTx marks requests sent while the job's insert transaction is open
// (announce): they use the rate-limit budget this replica knows, never
// the database's (with SQLite the transaction holds its one connection).
type inTx struct{}

// limits holds each installation's secondary-rate-limit end, shared
// through the database (read at most once a second per installation).
type limits struct {
	s  *store
	mu sync.Mutex
	m  map[int64]limitEntry
}

type limitEntry struct {
	until, read time.Time
}

func (l *limits) until(ctx context.Context, inst int64) time.Time {
	l.mu.Lock()
	e := l.m[inst]
	l.mu.Unlock()
	if l.s == nil || time.Since(e.read) < time.Second || ctx.Value(inTx{}) != nil {
		return e.until
	}
	db, err := l.s.limitUntil(ctx, inst)
	l.mu.Lock()
	defer l.mu.Unlock()
	e = l.m[inst]
	if err == nil {
		e.read = time.Now()
		if db.After(e.until) {
			e.until = db
		}
	}
	l.m[inst] = e
	return e.until
}

func (l *limits) set(ctx context.Context, inst int64, until time.Time, log *slog.Logger) {
	l.mu.Lock()
	e := l.m[inst]
	if until.After(e.until) {
		e.until = until
	}
	l.m[inst] = e
	l.mu.Unlock()
	if l.s == nil {
		return
	}
	share := func(ctx context.Context) {
		if err := l.s.limit(ctx, inst, until); err != nil {
			log.Warn("could not share a rate limit", "installation", inst, "err", err)
		}
	}
	if ctx.Value(inTx{}) != nil {
		// The job's insert transaction is open (with SQLite it holds the one
		// connection): share it once the transaction ended.
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			share(ctx)
		}()
		return
	}
	share(context.WithoutCancel(ctx))
}

// wait holds a request until the installation's limit ends (at most
// maxWait; past it the request goes and GitHub says again).
func (l *limits) wait(ctx context.Context, inst int64, maxWait time.Duration) error {
	d := time.Until(l.until(ctx, inst))
	if d <= 0 {
		return nil
	}
	select {
	case <-time.After(min(d, maxWait)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var tokenPattern = regexp.MustCompile(`gh[posur]_[A-Za-z0-9_]{16,}`)

// scrubToken removes anything shaped like a GitHub token from text shown
// on a check run.
func scrubToken(s string) string { return tokenPattern.ReplaceAllString(s, "[token]") }
