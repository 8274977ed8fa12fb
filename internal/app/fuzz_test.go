package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gate-ops/gate/checks"
)

// fuzzSecret is the webhook secret of the fuzzed App. It must never come
// back in a response or a log line.
const fuzzSecret = "fuzz-webhook-secret-9f3c2a"

// noNetwork fails every request the App would send to GitHub.
type noNetwork struct{ calls *atomic.Int64 }

func (n noNetwork) RoundTrip(*http.Request) (*http.Response, error) {
	n.calls.Add(1)
	return nil, errors.New("fuzz: no network")
}

// Signature modes of a fuzzed delivery.
const (
	sigNone        = iota // no X-Hub-Signature-256
	sigFuzzed             // the fuzzer's header value
	sigValid              // signed with the App's secret
	sigOtherSecret        // signed, with another secret
	sigModes
)

// jobsFor is how many jobs a valid delivery may queue at most: one per
// pull request it names, for the events that start work.
func jobsFor(event string, payload []byte) int {
	var p struct {
		CheckSuite struct {
			PullRequests []json.RawMessage `json:"pull_requests"`
		} `json:"check_suite"`
		CheckRun struct {
			PullRequests []json.RawMessage `json:"pull_requests"`
		} `json:"check_run"`
	}
	switch event {
	case "pull_request":
		return 1
	case "check_suite":
		_ = json.Unmarshal(payload, &p)
		return len(p.CheckSuite.PullRequests)
	case "check_run":
		_ = json.Unmarshal(payload, &p)
		return max(len(p.CheckRun.PullRequests), len(p.CheckSuite.PullRequests))
	}
	return 0
}

// FuzzWebhook sends fuzzed deliveries (event, body, content type,
// delivery id, signature) through the App's HTTP handler, as the server
// does. Beyond not panicking it asserts: a delivery that is not signed
// with the webhook secret is answered 401 and leaves the queue untouched,
// whatever its body and headers (nothing parsed, nothing queued, nothing
// run, no GitHub call, no new metrics label); a signed one is answered 200, 202, 400 or 503, never
// 401 or 500, queues at most one job per pull request it names and only
// for the events that start work, and none when refused; no answer and no
// log line carries the webhook secret.
func FuzzWebhook(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	var logs bytes.Buffer
	var runs, calls atomic.Int64
	a, err := New(Config{
		AppID:         1,
		PrivateKey:    pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		WebhookSecret: fuzzSecret,
		GitHubURL:     "http://127.0.0.1:1/api/v3/",
		CacheDir:      f.TempDir(),
		Runner: RunnerFuncs{
			PlanFunc: func(context.Context, *Revisions) ([]checks.Env, error) {
				runs.Add(1)
				return nil, errors.New("fuzz: no runs")
			},
			RunFunc: func(context.Context, *Revisions) (*checks.Report, error) {
				runs.Add(1)
				return nil, errors.New("fuzz: no runs")
			},
		},
		Transport: noNetwork{&calls},
		Logger:    slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		f.Fatal(err)
	}
	// No workers are started: what a delivery queues stays in the queue,
	// where the test can see it.
	h := a.Handler()

	f.Fuzz(func(t *testing.T, event string, body []byte, mode byte, sig, contentType, delivery string) {
		if len(body) > 256<<10 {
			return
		}
		if err := a.store.reset(context.Background()); err != nil {
			t.Fatal(err)
		}
		logs.Reset()

		var header string
		switch mode % sigModes {
		case sigFuzzed:
			header = sig
		case sigValid:
			header = Sign([]byte(fuzzSecret), body)
		case sigOtherSecret:
			header = Sign([]byte(sig), body)
		}
		// Valid exactly when it is the HMAC of the body with the secret
		// (hex in either case), computed here, not by VerifySignature.
		want := Sign([]byte(fuzzSecret), body)
		valid := strings.HasPrefix(header, "sha256=") && strings.EqualFold(header[len("sha256="):], want[len("sha256="):])

		req := httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", delivery)
		req.Header.Set("Content-Type", contentType)
		if header != "" {
			req.Header.Set(SignatureHeader, header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code := rec.Code

		pending, running, latest, err := a.store.counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}

		if !valid {
			if code != http.StatusUnauthorized {
				t.Fatalf("a delivery not signed with the secret (mode %d) was answered %d, want 401", mode%sigModes, code)
			}
			if pending+running+latest != 0 {
				t.Fatalf("an unsigned delivery touched the queue: %d pending, %d running, %d ordered", pending, running, latest)
			}
			// Nor can it grow the metrics: its event header is not signed.
			mfs, err := a.m.reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() != "gate_webhooks_total" {
					continue
				}
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "event" && l.GetValue() != eventLabel(l.GetValue()) {
							t.Fatalf("an unverified event header became a metrics label: %q", l.GetValue())
						}
					}
				}
			}
		} else {
			switch code {
			case http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusServiceUnavailable:
				// 202: an event no handler takes (go-githubapp's answer).
			default:
				t.Fatalf("a signed delivery was answered %d: %s", code, rec.Body.String())
			}
			payload := body
			if ct, _, _ := strings.Cut(contentType, ";"); strings.TrimSpace(strings.ToLower(ct)) == "application/x-www-form-urlencoded" {
				if v, err := url.ParseQuery(string(body)); err == nil {
					payload = []byte(v.Get("payload"))
				}
			}
			if limit := jobsFor(event, payload); pending > limit {
				t.Fatalf("a signed %q delivery queued %d jobs, it names at most %d pull requests", event, pending, limit)
			}
			if code != http.StatusOK && code != http.StatusServiceUnavailable && pending != 0 {
				t.Fatalf("a refused delivery (%d) queued %d jobs", code, pending)
			}
			// And work does start: a signed push to a pull request is queued.
			var pr struct {
				Action string `json:"action"`
			}
			if event == "pull_request" && code == http.StatusOK && json.Unmarshal(payload, &pr) == nil {
				switch pr.Action {
				case "opened", "synchronize", "reopened", "ready_for_review":
					if pending != 1 {
						t.Fatalf("a signed pull_request %q was answered 200 and queued %d jobs, want 1", pr.Action, pending)
					}
				}
			}
		}
		if running != 0 {
			t.Fatalf("%d jobs running without a worker", running)
		}
		if n := runs.Load(); n != 0 {
			t.Fatalf("the runner was called %d times without a worker", n)
		}
		if n := calls.Load(); n != 0 {
			t.Fatalf("%d requests to GitHub while answering a webhook", n)
		}
		if strings.Contains(rec.Body.String(), fuzzSecret) || strings.Contains(logs.String(), fuzzSecret) {
			t.Fatalf("the webhook secret leaked into the answer or the logs")
		}
	})
}
