// Package app is gate's GitHub App (`gate serve`): webhooks in, one check
// run per environment out ("gate / prod"), so branch protection can block a
// merge until the change is safe. Deliveries are verified
// (X-Hub-Signature-256), turned into jobs on a bounded queue where a newer
// push supersedes an older one, fetched into a per-repo object cache with
// the installation token, checked by the same engine as `gate check --base`
// (through the Runner the caller wires in), and reported as check runs that
// always end completed.
package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gate-ops/gate/internal/repocache"
)

// WebhookPath is where GitHub delivers webhooks.
const WebhookPath = "/api/github/hook"

// maxPayload is GitHub's 25 MB webhook cap plus headroom.
const maxPayload = 26 << 20

// Config configures the App.
type Config struct {
	// AppID is the GitHub App's id; PrivateKey its PEM private key.
	AppID      int64
	PrivateKey []byte
	// WebhookSecret signs deliveries.
	WebhookSecret string
	// GitHubURL is the REST API base: https://api.github.com/ or, for
	// GitHub Enterprise Server, https://HOST/api/v3/.
	GitHubURL string
	// PublicURL is where this server is reachable from browsers; check
	// runs link their full report there. Empty links the pull request.
	PublicURL string
	// CacheDir holds the per-repo object stores.
	CacheDir string
	// Workers bounds concurrent runs of this replica. MaxQueue is unused
	// (the queue is in the database) and kept for callers.
	Workers  int
	MaxQueue int
	// ShutdownGrace is how long Shutdown lets running jobs finish before
	// handing them back to the queue (default 20s).
	ShutdownGrace time.Duration
	// RunTimeout bounds one run; PublishTimeout the final check-run updates.
	RunTimeout     time.Duration
	PublishTimeout time.Duration
	// Retry policy of GitHub API calls.
	Retries        int
	RetryBase      time.Duration
	MaxRetryWait   time.Duration
	AttemptTimeout time.Duration
	// CompletionRetryEvery is how often check-run completions GitHub did
	// not take (after the per-request retries) are sent again (default
	// 1m); CompletionRetryFor how long they are tried (default 6h).
	CompletionRetryEvery time.Duration
	CompletionRetryFor   time.Duration
	// MaxFileSize bounds any file read from a revision.
	MaxFileSize int64
	// DatabaseURL is the queue's database: empty for SQLite at
	// <CacheDir>/gate.db (one replica), postgres://... for replicas that
	// share the work.
	DatabaseURL string
	// JobAttempts bounds the runs of one job (default 25); between them
	// River waits JobRetryBase doubling up to JobRetryMax (default 5s to
	// 15m: about five hours in all), so GitHub outages are waited out.
	JobAttempts  int
	JobRetryBase time.Duration
	JobRetryMax  time.Duration
	// RescueAfter is when a job still marked running is taken to belong to
	// a replica that died and is run again (default: RunTimeout plus
	// 3*PublishTimeout plus a minute).
	RescueAfter time.Duration
	// PollInterval is how often idle replicas look for jobs (default 1s);
	// SupersedePoll how often a run checks for a newer push (default 2s).
	PollInterval  time.Duration
	SupersedePoll time.Duration
	// ReportBytes bounds the (compressed) full reports kept in the
	// database for details_url (default 512 MiB); ReportTTL their age
	// (default 30 days). The oldest go first.
	ReportBytes int
	ReportTTL   time.Duration
	// Runner is the engine.
	Runner Runner
	Logger *slog.Logger
	// Transport is the base HTTP transport to GitHub (tests); nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
}

// App is a running GitHub App.
type App struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	cc     githubapp.ClientCreator
	tr     http.RoundTripper
	tokens *tokenCache
	limits *limits
	cache  *repocache.Cache
	store  *store
	runner Runner
	ready  atomic.Bool
	// stopping is set once Shutdown began: interrupted jobs are handed
	// back to the queue, not completed cancelled.
	stopping atomic.Bool
	// local are this replica's runs, for immediate supersession.
	local localRuns
	// completions wait to be sent again; retryDone closes when their
	// goroutine ends.
	completions *completions
	retryDone   chan struct{}
	// resolveQ holds re-requested suites whose pull requests must be
	// looked up (bounded); resolving counts them until done.
	resolveQ     chan *job
	resolving    atomic.Int32
	resolverDone chan struct{}
	stop         context.CancelFunc
	started      atomic.Bool
	// commitFault, set by tests only, fails the commit of new jobs.
	commitFault atomic.Pointer[func() error]
}

// New checks the configuration and builds the App; Start runs it.
func New(cfg Config) (*App, error) {
	switch {
	case cfg.AppID <= 0:
		return nil, errors.New("the GitHub App id is required (--app-id or GATE_APP_ID)")
	case len(cfg.PrivateKey) == 0:
		return nil, errors.New("the GitHub App private key is required (--private-key-file or GATE_PRIVATE_KEY_FILE)")
	case cfg.WebhookSecret == "":
		return nil, errors.New("the webhook secret is required (--webhook-secret-file or GATE_WEBHOOK_SECRET)")
	case cfg.Runner == nil:
		return nil, errors.New("no runner")
	case cfg.CacheDir == "":
		return nil, errors.New("a cache directory is required (--cache-dir)")
	}
	if cfg.GitHubURL == "" {
		cfg.GitHubURL = "https://api.github.com/"
	}
	if !strings.HasSuffix(cfg.GitHubURL, "/") {
		cfg.GitHubURL += "/"
	}
	if _, err := url.Parse(cfg.GitHubURL); err != nil {
		return nil, fmt.Errorf("GitHub URL %q: %w", cfg.GitHubURL, err)
	}
	setDefaults(&cfg)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := newMetrics()
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tr := &transport{next: base, m: m, policy: retryPolicy{Attempts: cfg.Retries, Base: cfg.RetryBase, MaxWait: cfg.MaxRetryWait, AttemptTimeout: cfg.AttemptTimeout, SecondaryWait: time.Minute}}
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
	cache, err := repocache.New(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, m: m, cc: cc, tr: tr, limits: &limits{m: map[int64]limitEntry{}}, cache: cache, runner: cfg.Runner,
		completions: &completions{max: 10000, m: m}, retryDone: make(chan struct{}),
		resolveQ: make(chan *job, 256), resolverDone: make(chan struct{})}
	a.tokens = &tokenCache{cc: cc, m: map[tokenKey]*github.InstallationToken{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a.store, err = openStore(ctx, cfg.DatabaseURL, cfg.CacheDir, queueOptions{
		workers: cfg.Workers, jobTimeout: cfg.RunTimeout + 2*cfg.PublishTimeout, rescueAfter: cfg.RescueAfter,
		pollInterval: cfg.PollInterval, worker: &checkWorker{a: a}, log: log})
	if err != nil {
		return nil, fmt.Errorf("open the queue's database: %w", err)
	}
	a.limits.s = a.store
	tr.onLimit = func(ctx context.Context, until time.Time) {
		if inst, ok := ctx.Value(instKey{}).(int64); ok {
			a.limits.set(ctx, inst, until, log)
		}
	}
	return a, nil
}

func setDefaults(cfg *Config) {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.ReportBytes <= 0 {
		cfg.ReportBytes = 512 << 20
	}
	if cfg.ReportTTL <= 0 {
		cfg.ReportTTL = 30 * 24 * time.Hour
	}
	if cfg.JobAttempts <= 0 {
		cfg.JobAttempts = 25
	}
	if cfg.JobRetryBase <= 0 {
		cfg.JobRetryBase = 5 * time.Second
	}
	if cfg.JobRetryMax <= 0 {
		cfg.JobRetryMax = 15 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.SupersedePoll <= 0 {
		cfg.SupersedePoll = 2 * time.Second
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 20 * time.Second
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = 10 * time.Minute
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 2 * time.Minute
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 6
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 500 * time.Millisecond
	}
	if cfg.MaxRetryWait <= 0 {
		cfg.MaxRetryWait = 90 * time.Second
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 30 * time.Second
	}
	if cfg.CompletionRetryEvery <= 0 {
		cfg.CompletionRetryEvery = time.Minute
	}
	if cfg.CompletionRetryFor <= 0 {
		cfg.CompletionRetryFor = 6 * time.Hour
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = cfg.RunTimeout + 3*cfg.PublishTimeout + time.Minute
	}
}

// Start runs the workers until Shutdown.
func (a *App) Start(ctx context.Context) {
	if !a.started.CompareAndSwap(false, true) {
		return
	}
	ctx, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	if err := a.store.q.start(ctx); err != nil {
		a.log.Error("the queue did not start", "err", err)
		return
	}
	go a.maintain(ctx)
	go func() {
		defer close(a.retryDone)
		a.retryCompletions(ctx)
	}()
	go func() {
		defer close(a.resolverDone)
		a.resolver(ctx)
	}()
	a.ready.Store(true)
	a.log.Info("gate app started", "workers", a.cfg.Workers, "github", a.cfg.GitHubURL)
}

// Shutdown stops taking work and hands running jobs back to the queue:
// another replica (or this one after its restart) runs them again, so a
// deploy leaves no check run behind. Runs that finish within ShutdownGrace
// finish here.
func (a *App) Shutdown(ctx context.Context) error {
	a.ready.Store(false)
	a.stopping.Store(true)
	if !a.started.Load() {
		a.store.close()
		return nil
	}
	soft, cancel := context.WithTimeout(ctx, a.cfg.ShutdownGrace)
	err := a.store.q.stop(soft)
	cancel()
	if err != nil {
		if err := a.store.q.stopAndCancel(ctx); err != nil {
			return fmt.Errorf("stop the queue: %w", err)
		}
	}
	// One last try for completions GitHub did not take.
	if a.completions.len() > 0 {
		a.flushCompletions(ctx)
	}
	if a.stop != nil {
		a.stop()
		<-a.retryDone
		<-a.resolverDone
	}
	a.store.close()
	return nil
}

// Idle reports whether no job waits or runs (in the whole database: all
// replicas) and no check-run completion waits to be sent again; tests
// poll it.
func (a *App) Idle() bool {
	n, err := a.store.active(context.Background())
	return err == nil && n == 0 && a.resolving.Load() == 0 && a.completions.len() == 0
}

// maintain expires stored reports and forgotten heads now and hourly.
func (a *App) maintain(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := a.store.prune(ctx, a.cfg.ReportTTL, int64(a.cfg.ReportBytes)); err != nil && ctx.Err() == nil {
			a.log.Warn("could not expire old reports", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// putReport stores a full report for Details; a failure costs the link,
// not the run.
func (a *App) putReport(ctx context.Context, key, body string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := a.store.putReport(ctx, key, body); err != nil {
		a.log.Error("could not store the full report", "err", err)
	}
}

// Handler serves the webhook, health, metrics and report endpoints.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	h := &handler{a: a, events: []string{"pull_request", "check_suite", "check_run", "installation", "installation_repositories"}}
	dispatcher := githubapp.NewEventDispatcher([]githubapp.EventHandler{h}, a.cfg.WebhookSecret,
		githubapp.WithErrorCallback(a.onDispatchError))
	mux.Handle("POST "+WebhookPath, a.verify(dispatcher))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /reports/{sig}/{owner}/{repo}/{sha}/{env}", a.serveReport)
	return mux
}

// verify answers 401 to a delivery whose X-Hub-Signature-256 does not match
// its body, before anything is parsed or queued.
func (a *App) verify(next http.Handler) http.Handler {
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

func (a *App) onDispatchError(w http.ResponseWriter, r *http.Request, err error) {
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

// errQueue marks a delivery the database did not take: answered 503, so
// GitHub's redelivery (or the sender's retry) can try again.
var errQueue = errors.New("queue unavailable")

// submit commits a job and counts the outcome; the webhook's answer waits
// for the commit.
func (a *App) submit(ctx context.Context, log *slog.Logger, j *job, event, action string) error {
	if err := j.validate(); err != nil {
		a.m.webhooks.WithLabelValues(event, action, "invalid").Inc()
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 8*time.Second)
	defer cancel()
	out, err := a.enqueue(ctx, j)
	if err != nil {
		a.m.webhooks.WithLabelValues(event, action, outcomeFull).Inc()
		return fmt.Errorf("%w: %w", errQueue, err)
	}
	a.m.webhooks.WithLabelValues(event, action, out).Inc()
	log.Info("webhook accepted", "head", short(j.HeadSHA), "outcome", out)
	return nil
}

// reportKey names a stored full report.
func (a *App) reportKey(j *job, env string) string {
	return j.Repo + "/" + j.HeadSHA + "/" + env
}

// reportSig makes report URLs unguessable: reports of private repos are
// served without a login, so the URL itself is the capability.
func (a *App) reportSig(key string) string {
	m := hmac.New(sha256.New, []byte("gate-report\x00"+a.cfg.WebhookSecret))
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// detailsURL is where a check run's "Details" goes: the full report on
// this server, or the pull request when no public URL is configured.
func (a *App) detailsURL(j *job, env string) string {
	if a.cfg.PublicURL == "" {
		if j.HTMLURL != "" {
			return fmt.Sprintf("%s/pull/%d", j.HTMLURL, j.PR)
		}
		return ""
	}
	key := a.reportKey(j, env)
	return strings.TrimSuffix(a.cfg.PublicURL, "/") + "/reports/" + a.reportSig(key) + "/" + j.Repo + "/" + j.HeadSHA + "/" + url.PathEscape(env)
}

func (a *App) serveReport(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("owner") + "/" + r.PathValue("repo") + "/" + r.PathValue("sha") + "/" + r.PathValue("env")
	if !hmac.Equal([]byte(r.PathValue("sig")), []byte(a.reportSig(key))) {
		http.NotFound(w, r)
		return
	}
	body, ok, err := a.store.getReport(r.Context(), key)
	if err != nil {
		a.log.Error("could not read a report", "err", err)
		http.Error(w, "the report store is unavailable; try again", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		http.Error(w, "this report is no longer kept; re-run the check", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, body)
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
func (a *App) client(inst int64) (*github.Client, error) {
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
	if l.s == nil || time.Since(e.read) < time.Second {
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
	if l.s != nil {
		if err := l.s.limit(context.WithoutCancel(ctx), inst, until); err != nil {
			log.Warn("could not share a rate limit", "installation", inst, "err", err)
		}
	}
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
