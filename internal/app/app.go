// Package app is gate's App (`gate serve`): webhooks in, one check run
// per environment out ("gate / prod"), so branch protection can block a
// merge until the change is safe. Deliveries are verified, turned into
// jobs on a durable queue (River) where a newer push supersedes an older
// one, fetched into a per-repo object cache with a token from the forge,
// checked by the same engine as `gate check --base` (through the Runner
// the caller wires in), and reported as check runs that always end
// completed. The queue, fetch and run know no forge: GitHub is an adapter
// behind the Forge interface (forge.go; github*.go).
package app

import (
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
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gate-ops/gate/internal/repocache"
)

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
	// Forge is the code host's adapter; nil means GitHub's, built from
	// the GitHub fields above.
	Forge Forge
}

// App is a running App: the forge-independent queue, fetch and run, with
// a forge adapter (GitHub's unless Config.Forge names another).
type App struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	forge  Forge
	cache  *repocache.Cache
	store  *store
	runner Runner
	ready  atomic.Bool
	// stopping is set once Shutdown began: interrupted jobs are handed
	// back to the queue, not completed cancelled.
	stopping atomic.Bool
	// local are this replica's runs, for immediate supersession.
	local localRuns
	// forgeDone closes when the forge's background work ends.
	forgeDone chan struct{}
	stop      context.CancelFunc
	started   atomic.Bool
	// commitFault, set by tests only, fails the commit of new jobs.
	commitFault atomic.Pointer[func() error]
}

// New checks the configuration and builds the App; Start runs it.
func New(cfg Config) (*App, error) {
	switch {
	case cfg.Forge == nil && cfg.AppID <= 0:
		return nil, errors.New("the GitHub App id is required (--app-id or GATE_APP_ID)")
	case cfg.Forge == nil && len(cfg.PrivateKey) == 0:
		return nil, errors.New("the GitHub App private key is required (--private-key-file or GATE_PRIVATE_KEY_FILE)")
	case cfg.WebhookSecret == "":
		return nil, errors.New("the webhook secret is required (--webhook-secret-file or GATE_WEBHOOK_SECRET)")
	case cfg.Runner == nil:
		return nil, errors.New("no runner")
	case cfg.CacheDir == "":
		return nil, errors.New("a cache directory is required (--cache-dir)")
	}
	setDefaults(&cfg)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cache, err := repocache.New(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, m: newMetrics(), cache: cache, runner: cfg.Runner, forge: cfg.Forge, forgeDone: make(chan struct{})}
	var gh *githubForge
	if a.forge == nil {
		if gh, err = newGitHub(a); err != nil {
			return nil, err
		}
		a.forge = gh
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a.store, err = openStore(ctx, cfg.DatabaseURL, cfg.CacheDir, queueOptions{
		workers: cfg.Workers, jobTimeout: cfg.RunTimeout + 2*cfg.PublishTimeout, rescueAfter: cfg.RescueAfter,
		pollInterval: cfg.PollInterval, worker: &checkWorker{a: a}, log: log})
	if err != nil {
		return nil, fmt.Errorf("open the queue's database: %w", err)
	}
	if gh != nil {
		gh.limits.s = a.store
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
		defer close(a.forgeDone)
		a.forge.Run(ctx)
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
	// One last try for what the forge still owes (completions GitHub did
	// not take).
	if a.forge.Pending() > 0 {
		a.forge.Flush(ctx)
	}
	if a.stop != nil {
		a.stop()
		<-a.forgeDone
	}
	a.store.close()
	return nil
}

// Idle reports whether no job waits or runs (in the whole database: all
// replicas) and the forge owes nothing (no check-run completion waits to
// be sent again); tests poll it.
func (a *App) Idle() bool {
	n, err := a.store.active(context.Background())
	return err == nil && n == 0 && a.forge.Pending() == 0
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

// Handler serves the forge's webhooks, health, metrics and report
// endpoints.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	if wh, ok := a.forge.(Webhooks); ok {
		path, h := wh.Webhook()
		mux.Handle("POST "+path, h)
	}
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

// Submit commits j, a forge adapter's event turned into a job, and
// returns the outcome (queued, duplicate, stale): the adapter answers its
// event only after it returns without error.
func (a *App) Submit(ctx context.Context, j *Job) (string, error) {
	if err := j.validate(); err != nil {
		return "", err
	}
	j.key = jobKey(j.Repo, j.PR)
	return a.enqueue(ctx, j)
}

// Closed stops the runs of a pull request that was closed.
func (a *App) Closed(ctx context.Context, repo string, pr int) error {
	key := jobKey(repo, pr)
	if err := a.store.closePR(ctx, key); err != nil {
		return fmt.Errorf("%w: %w", errQueue, err)
	}
	a.local.supersede(key, "", errPRClosed)
	return nil
}

// errQueue marks a delivery the database did not take: answered 503, so
// GitHub's redelivery (or the sender's retry) can try again.
var errQueue = errors.New("queue unavailable")

// submit commits a job and counts the outcome; the webhook's answer waits
// for the commit.
func (a *App) submit(ctx context.Context, log *slog.Logger, j *Job, event, action string) error {
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
func (a *App) reportKey(j *Job, env string) string {
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
func (a *App) detailsURL(j *Job, env string) string {
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
