package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/app"
	"github.com/gate-ops/gate/internal/run"
)

// serveFlags configure `gate serve`. Every flag can also be set by an
// environment variable GATE_<FLAG> (--app-id: GATE_APP_ID); secrets are
// read from files or the environment, never from flags, which show in ps.
type serveFlags struct {
	listen         string
	appID          int64
	privateKeyFile string
	secretFile     string
	githubURL      string
	publicURL      string
	cacheDir       string
	noRenderCache  bool
	renderCacheMB  int64
	renderDir      string
	noIsolate      bool
	workers        int
	runTimeout     time.Duration
	stages         run.Stages
	// The durable queue (internal/app/store.go).
	databaseURL   string
	jobRetryBase  time.Duration
	jobRetryMax   time.Duration
	jobAttempts   int
	rescueAfter   time.Duration
	pollInterval  time.Duration
	shutdownGrace time.Duration
	// GitHub API retries within one attempt of a job.
	apiRetries     int
	apiRetryBase   time.Duration
	apiMaxWait     time.Duration
	attemptTimeout time.Duration
	publishTimeout time.Duration
}

func newServeCmd(g *globals) *cobra.Command { return serveCmd(g, &serveFlags{}) }

func serveCmd(g *globals, f *serveFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run gate as a GitHub App: webhooks in, one check run per environment out",
		Long: `serve runs gate as a GitHub App. For every pull request head it creates one
check run per environment ("gate / prod"), fetches the repository with the
installation token (a per-repo object cache; nothing is checked out), runs
the same checks as "gate check --base", and completes each check run:
failure when the gate fails, success, or neutral when the pull request does
not touch the environment. gate.yaml and policies come from the base branch.

Require "gate / <env>" in branch protection to block merges.

Configuration (flags or environment):
  --app-id            GATE_APP_ID            the GitHub App id
  --private-key-file  GATE_PRIVATE_KEY_FILE  the App's private key (PEM)
  --webhook-secret-file GATE_WEBHOOK_SECRET_FILE, or GATE_WEBHOOK_SECRET
  --github-url        GATE_GITHUB_URL        REST API base (GHE: https://HOST/api/v3/)
  --listen            GATE_LISTEN            listen address (default :8080)
  --public-url        GATE_PUBLIC_URL        this server's external URL, for report links
  --cache-dir         GATE_CACHE_DIR         git object stores (repos/), render cache (render/), gate.db
  --database-url      GATE_DATABASE_URL      the job queue: postgres://... for replicas (default: SQLite
                                             at <cache-dir>/gate.db, one replica)

Every webhook is a job in a database (River): answered 2xx once committed,
one job per pull-request head, run again after a crash (--rescue-after) or
while GitHub is unavailable (backoff --job-retry-base to --job-retry-max,
--job-attempts tries). Full reports behind Details are kept there too.

Only the environments a pull request touches are rendered and checked; the
others complete neutral ("not affected"). Renders are cached by the content
of every file they read, so the base side of a pull request and unchanged
environments are rarely rendered twice.

Endpoints: POST ` + app.WebhookPath + ` (webhooks), /healthz, /readyz, /metrics, /reports/...`,
		Example: `  GATE_WEBHOOK_SECRET=... gate serve --app-id 12345 --private-key-file /secrets/app.pem
  gate serve --github-url https://github.example.com/api/v3/ --public-url https://gate.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagsFromEnv(cmd.Flags()); err != nil {
				return usageErr("%v", err)
			}
			return g.serve(cmd.Context(), f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.listen, "listen", ":8080", "address to listen on")
	fs.Int64Var(&f.appID, "app-id", 0, "GitHub App id")
	fs.StringVar(&f.privateKeyFile, "private-key-file", "", "GitHub App private key (PEM file)")
	fs.StringVar(&f.secretFile, "webhook-secret-file", "", "file holding the webhook secret (or set GATE_WEBHOOK_SECRET)")
	fs.StringVar(&f.githubURL, "github-url", "https://api.github.com/", "GitHub REST API base URL; for GitHub Enterprise Server https://HOST/api/v3/")
	fs.StringVar(&f.publicURL, "public-url", "", "external URL of this server; check runs link their full report there (default: link the pull request)")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "cache root: per-repo git object stores under repos/, the render cache under render/ (default: the user cache dir + /gate)")
	fs.BoolVar(&f.noRenderCache, "no-render-cache", false, "render every revision afresh (default: reuse renders whose input files are unchanged)")
	fs.Int64Var(&f.renderCacheMB, "render-cache-max-mb", 2048, "size bound of the render cache; the oldest renders are removed past it (checked hourly)")
	fs.BoolVar(&f.noIsolate, "no-isolate", false, "render in the server process (default: each environment in a worker process killed at its deadline or memory budget)")
	fs.IntVar(&f.workers, "workers", 4, "pull requests checked at the same time")
	fs.DurationVar(&f.runTimeout, "run-timeout", 10*time.Minute, "time limit of one run; its check runs end timed_out")
	fs.StringVar(&f.databaseURL, "database-url", "", "job queue database: postgres://user@host/db for replicas sharing the work (default: SQLite at <cache-dir>/gate.db); prefer GATE_DATABASE_URL, flags show in ps")
	fs.DurationVar(&f.jobRetryBase, "job-retry-base", 5*time.Second, "first wait before a job GitHub or git failed runs again; it doubles")
	fs.DurationVar(&f.jobRetryMax, "job-retry-max", 15*time.Minute, "longest wait between a job's attempts")
	fs.IntVar(&f.jobAttempts, "job-attempts", 25, "most attempts of one job (the last completes its check runs with the error)")
	fs.DurationVar(&f.rescueAfter, "rescue-after", 0, "a job still running after this is taken to belong to a dead replica and run again (default: run timeout + 3 * publish timeout + 1m)")
	fs.DurationVar(&f.pollInterval, "poll-interval", time.Second, "how often idle workers look for jobs in the database")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", 20*time.Second, "on SIGTERM, how long running jobs may finish before they are handed back to the queue")
	fs.IntVar(&f.apiRetries, "github-retries", 6, "tries of one GitHub API request (5xx, timeouts, rate limits) before the job backs off")
	fs.DurationVar(&f.apiRetryBase, "github-retry-base", 500*time.Millisecond, "first wait between tries of one GitHub API request; it doubles")
	fs.DurationVar(&f.apiMaxWait, "github-max-wait", 90*time.Second, "longest wait between tries of one GitHub API request (a longer Retry-After ends the attempt)")
	fs.DurationVar(&f.attemptTimeout, "github-attempt-timeout", 30*time.Second, "time limit of one GitHub API request")
	fs.DurationVar(&f.publishTimeout, "publish-timeout", 2*time.Minute, "time limit of a run's check-run writes")
	addStageFlags(fs, &f.stages)
	return cmd
}

// flagsFromEnv sets every flag not given on the command line from
// GATE_<NAME> when that variable is set.
func flagsFromEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed {
			return
		}
		env := "GATE_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := fs.Set(fl.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	return errors.Join(errs...)
}

func (g *globals) serve(ctx context.Context, f *serveFlags) error {
	cfg, err := g.serveConfig(f)
	if err != nil {
		return usageErr("%v", err)
	}
	level := slog.LevelInfo
	if g.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(g.stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log
	a, err := app.New(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.renderDir != "" && f.renderCacheMB > 0 {
		go render.PruneLoop(ctx, f.renderDir, f.renderCacheMB<<20, time.Hour, log)
	}
	srv := &http.Server{Addr: f.listen, Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	a.Start(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", "addr", f.listen, "webhook", app.WebhookPath)
	select {
	case err := <-errc:
		_ = a.Shutdown(context.Background())
		return &exitCodeError{code: exitError, err: fmt.Errorf("serve %s: %w", f.listen, err)}
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return a.Shutdown(sctx)
}

// serveConfig turns flags into the App's config (run.ServeConfig); the
// runner is the engine with the stages of internal/run/stages.go.
func (g *globals) serveConfig(f *serveFlags) (cfg app.Config, err error) {
	cfg = app.Config{AppID: f.appID, GitHubURL: f.githubURL, PublicURL: f.publicURL, CacheDir: f.cacheDir,
		Workers: f.workers, RunTimeout: f.runTimeout, MaxFileSize: g.maxFile,
		DatabaseURL: f.databaseURL, JobRetryBase: f.jobRetryBase, JobRetryMax: f.jobRetryMax, JobAttempts: f.jobAttempts,
		RescueAfter: f.rescueAfter, PollInterval: f.pollInterval, ShutdownGrace: f.shutdownGrace,
		Retries: f.apiRetries, RetryBase: f.apiRetryBase, MaxRetryWait: f.apiMaxWait, AttemptTimeout: f.attemptTimeout,
		PublishTimeout: f.publishTimeout}
	s := run.Serve{PrivateKeyFile: f.privateKeyFile, SecretFile: f.secretFile, CacheRoot: f.cacheDir, NoRenderCache: f.noRenderCache,
		CacheSalt: cacheSalt(), Stages: f.stages, Limits: g.limits, ConfigPath: g.configPath, Logger: g.log}
	if !f.noIsolate {
		s.Isolate = g.isolator()
	}
	cfg, f.renderDir, err = run.ServeConfig(cfg, s)
	return cfg, err
}
