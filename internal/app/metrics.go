package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the App's Prometheus series, on a registry of its own (no
// package globals), served at /metrics.
type metrics struct {
	reg          *prometheus.Registry
	webhooks     *prometheus.CounterVec
	runs         *prometheus.CounterVec
	runDuration  *prometheus.HistogramVec
	checkRuns    *prometheus.CounterVec
	queueDepth   prometheus.Gauge
	running      prometheus.Gauge
	superseded   prometheus.Counter
	apiCalls     *prometheus.CounterVec
	apiErrors    *prometheus.CounterVec
	apiRetries   *prometheus.CounterVec
	apiDuration  *prometheus.HistogramVec
	fetches      *prometheus.CounterVec
	fetchSeconds prometheus.Histogram
	// pendingCompletions and lateCompletions follow check-run completions
	// GitHub did not take at first.
	pendingCompletions prometheus.Gauge
	lateCompletions    *prometheus.CounterVec
	lostCheckRuns      prometheus.Counter
	// queuedAtWebhook counts check runs created queued by the webhook
	// handler (created, failed, withdrawn).
	queuedAtWebhook *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gate_webhooks_total", Help: "Webhook deliveries by event, action and outcome (queued, ignored, duplicate, unauthorized, invalid)."}, []string{"event", "action", "outcome"})
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gate_runs_total", Help: "Runs by outcome (pass, fail, error, cancelled, stale)."}, []string{"outcome"})
	m.runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gate_run_duration_seconds", Help: "Duration of runs by phase (fetch, check, publish, total).", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, []string{"phase"})
	m.checkRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gate_check_runs_total", Help: "Check runs completed, by conclusion."}, []string{"conclusion"})
	m.queueDepth = prometheus.NewGauge(prometheus.GaugeOpts{Name: "gate_queue_depth", Help: "Pull requests waiting for a worker."})
	m.running = prometheus.NewGauge(prometheus.GaugeOpts{Name: "gate_runs_in_progress", Help: "Runs being worked on."})
	m.superseded = prometheus.NewCounter(prometheus.CounterOpts{Name: "gate_runs_superseded_total", Help: "Runs replaced by a newer push to the same pull request."})
	m.apiCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gate_github_api_requests_total", Help: "GitHub API requests (each attempt) by operation and status code."}, []string{"op", "code"})
	m.apiErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gate_github_api_errors_total", Help: "GitHub API attempts that failed (transport error, 4xx, 5xx), by operation."}, []string{"op", "kind"})
	m.apiRetries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gate_github_api_retries_total", Help: "GitHub API retries by reason (5xx, secondary_rate_limit, rate_limit, transport, timeout)."}, []string{"reason"})
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gate_github_api_request_duration_seconds", Help: "GitHub API attempt latency by operation.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"op"})
	m.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gate_repo_fetches_total", Help: "Repository fetches by outcome (fetched, cached, error)."}, []string{"outcome"})
	m.fetchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gate_repo_fetch_duration_seconds", Help: "Duration of repository fetches.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)})
	m.pendingCompletions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "gate_check_run_completions_waiting", Help: "Check-run completions GitHub did not take yet, waiting to be sent again."})
	m.lateCompletions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gate_check_run_late_completions_total", Help: "Check-run completions sent again after a failure, by outcome (completed, given_up, dropped, refused)."}, []string{"outcome"})
	m.lostCheckRuns = prometheus.NewCounter(prometheus.CounterOpts{Name: "gate_check_runs_lost_total", Help: "Check runs found on GitHub that gate lost track of (a create whose answer was lost), completed as cancelled."})
	m.queuedAtWebhook = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gate_check_runs_queued_at_webhook_total", Help: "Check runs the webhook handler created queued, by outcome (created, failed: left to the run, skipped: GitHub failed all of the last webhook's, withdrawn: the job was not committed)."}, []string{"outcome"})
	m.reg.MustRegister(m.pendingCompletions, m.lateCompletions, m.lostCheckRuns, m.queuedAtWebhook)
	m.reg.MustRegister(m.webhooks, m.runs, m.runDuration, m.checkRuns, m.queueDepth, m.running, m.superseded,
		m.apiCalls, m.apiErrors, m.apiRetries, m.apiDuration, m.fetches, m.fetchSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
