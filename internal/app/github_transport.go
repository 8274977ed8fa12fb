package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// retryPolicy says how GitHub API calls are retried.
type retryPolicy struct {
	// Attempts is the most tries of one request (first included).
	Attempts int
	// Base is the first backoff; it doubles with jitter.
	Base time.Duration
	// MaxWait caps one wait, Retry-After included: a longer one is not
	// waited for, the call fails and the run explains it.
	MaxWait time.Duration
	// AttemptTimeout bounds one attempt, so a hung answer is retried.
	AttemptTimeout time.Duration
	// SecondaryWait is the least wait after a secondary rate limit that
	// came without Retry-After (GitHub asks for at least a minute).
	SecondaryWait time.Duration
}

// transport counts, times and retries every GitHub API request, token
// requests included (it sits under the library's installation transport).
// It retries 5xx, secondary rate limits (403/429 with Retry-After or the
// secondary-rate-limit message) and transport errors, with exponential
// backoff, honouring Retry-After.
type transport struct {
	next   http.RoundTripper
	policy retryPolicy
	m      *metrics
	// onLimit hears of every rate limit GitHub announces (Retry-After,
	// an exhausted budget), so every request of the installation waits.
	onLimit func(ctx context.Context, until time.Time)
}

var numberSeg = regexp.MustCompile(`/[0-9]+(/|$)`)

// opName is a low-cardinality name of a request for metrics.
func opName(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.Path, "/api/v3")
	switch {
	case strings.HasSuffix(p, "/access_tokens"):
		return "create-installation-token"
	case strings.Contains(p, "/check-runs"):
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(p, "/check-runs"):
			return "create-check-run"
		case r.Method == http.MethodPatch:
			return "update-check-run"
		}
		return "check-runs-" + strings.ToLower(r.Method)
	}
	return strings.ToLower(r.Method) + " " + numberSeg.ReplaceAllString(p, "/N$1")
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := opName(req)
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		body = b
	}
	attempts := max(t.policy.Attempts, 1)
	if req.Context().Value(noRetry{}) != nil {
		attempts = 1 // the caller looks at GitHub before sending it again
	}
	var lastErr error
	for i := 0; i < attempts; i++ {
		if err := req.Context().Err(); err != nil {
			return nil, err
		}
		resp, err := t.attempt(req, body, op)
		wait, reason := t.retryable(resp, err, i)
		if (reason == "secondary_rate_limit" || reason == "rate_limit") && t.onLimit != nil {
			t.onLimit(req.Context(), time.Now().Add(wait))
		}
		if reason == "" {
			return resp, err
		}
		if i == attempts-1 {
			if err == nil {
				return resp, nil // the caller sees GitHub's last answer
			}
			return nil, err
		}
		if wait > t.policy.MaxWait {
			if resp != nil {
				return resp, nil
			}
			return nil, fmt.Errorf("GitHub asks to wait %s, over the %s limit: %w", wait, t.policy.MaxWait, err)
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			lastErr = fmt.Errorf("GitHub answered %s", resp.Status)
		} else {
			lastErr = err
		}
		t.m.apiRetries.WithLabelValues(reason).Inc()
		select {
		case <-time.After(wait):
		case <-req.Context().Done():
			return nil, fmt.Errorf("%w (while retrying after: %v)", req.Context().Err(), lastErr)
		}
	}
	return nil, lastErr
}

func (t *transport) attempt(req *http.Request, body []byte, op string) (*http.Response, error) {
	ctx := req.Context()
	cancel := context.CancelFunc(func() {})
	if t.policy.AttemptTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, t.policy.AttemptTimeout)
	}
	r := req.Clone(ctx)
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.m.apiDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		cancel()
		kind := "transport"
		if errors.Is(err, context.DeadlineExceeded) && req.Context().Err() == nil {
			kind = "timeout"
		}
		t.m.apiCalls.WithLabelValues(op, kind).Inc()
		t.m.apiErrors.WithLabelValues(op, kind).Inc()
		return nil, err
	}
	t.m.apiCalls.WithLabelValues(op, strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode >= 400 {
		kind := "4xx"
		if resp.StatusCode >= 500 {
			kind = "5xx"
		}
		t.m.apiErrors.WithLabelValues(op, kind).Inc()
	}
	// Keep the attempt's deadline alive until the body is read.
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelBody) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// retryable returns how long to wait and why, or "" when the outcome is final.
func (t *transport) retryable(resp *http.Response, err error, attempt int) (time.Duration, string) {
	backoff := func() time.Duration {
		d := t.policy.Base << attempt
		if d <= 0 {
			d = time.Second
		}
		return d/2 + rand.N(d/2+1)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 0, ""
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return backoff(), "timeout"
		}
		return backoff(), "transport"
	}
	switch {
	case resp.StatusCode >= 500:
		if ra, ok := retryAfter(resp); ok {
			return ra, "5xx"
		}
		return backoff(), "5xx"
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests:
		if ra, ok := retryAfter(resp); ok {
			return ra, "secondary_rate_limit"
		}
		if resp.Header.Get("X-Ratelimit-Remaining") == "0" {
			if reset, err := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
				return max(time.Until(time.Unix(reset, 0)), time.Second), "rate_limit"
			}
		}
		if secondaryMessage(resp) {
			return max(backoff(), t.policy.SecondaryWait), "secondary_rate_limit"
		}
	}
	return 0, ""
}

func retryAfter(resp *http.Response) (time.Duration, bool) {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if when, err := http.ParseTime(v); err == nil {
		return max(time.Until(when), 0), true
	}
	return 0, false
}

// secondaryMessage peeks at a 403 body for GitHub's secondary-rate-limit
// message and puts the body back.
func secondaryMessage(resp *http.Response) bool {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return bytes.Contains(bytes.ToLower(b), []byte("secondary rate limit"))
}
