package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTransportRetries(t *testing.T) {
	cases := []struct {
		name     string
		answers  []func(w http.ResponseWriter)
		maxWait  time.Duration
		want     int
		attempts int32
		minTime  time.Duration
	}{
		{name: "502 then ok", answers: []func(http.ResponseWriter){status(502), status(200)}, want: 200, attempts: 2},
		{name: "secondary rate limit honours Retry-After", answers: []func(http.ResponseWriter){retryAfter403("1"), status(201)}, want: 201, attempts: 2, minTime: time.Second},
		{name: "secondary rate limit by message waits", answers: []func(http.ResponseWriter){secondary403, status(200)}, want: 200, attempts: 2, minTime: 200 * time.Millisecond},
		{name: "Retry-After over the limit is not waited for", answers: []func(http.ResponseWriter){retryAfter403("3600"), status(200)}, want: 403, attempts: 1},
		{name: "422 is final", answers: []func(http.ResponseWriter){status(422), status(200)}, want: 422, attempts: 1},
		{name: "plain 403 is final", answers: []func(http.ResponseWriter){status(403), status(200)}, want: 403, attempts: 1},
		{name: "gives up after the attempts", answers: []func(http.ResponseWriter){status(503), status(503), status(503), status(200)}, want: 503, attempts: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if string(b) != `{"a":1}` {
					t.Errorf("attempt %d got body %q: the body was not replayed", n.Load()+1, b)
				}
				i := int(n.Add(1)) - 1
				tc.answers[min(i, len(tc.answers)-1)](w)
			}))
			defer srv.Close()
			maxWait := tc.maxWait
			if maxWait == 0 {
				maxWait = 5 * time.Second
			}
			tr := &transport{next: http.DefaultTransport, m: newMetrics(), policy: retryPolicy{Attempts: 3, Base: time.Millisecond, MaxWait: maxWait, AttemptTimeout: time.Second, SecondaryWait: 200 * time.Millisecond}}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/repos/o/r/check-runs", strings.NewReader(`{"a":1}`))
			start := time.Now()
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want || n.Load() != tc.attempts {
				t.Fatalf("status %d after %d attempts, want %d after %d", resp.StatusCode, n.Load(), tc.want, tc.attempts)
			}
			if time.Since(start) < tc.minTime {
				t.Fatalf("returned after %s, before Retry-After %s", time.Since(start), tc.minTime)
			}
		})
	}
}

func status(code int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(code) }
}

func retryAfter403(secs string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", secs)
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"message":"You have exceeded a secondary rate limit."}`)
	}
}

func secondary403(w http.ResponseWriter) {
	w.WriteHeader(http.StatusForbidden)
	_, _ = io.WriteString(w, `{"message":"You have exceeded a secondary rate limit."}`)
}
