package hostile

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/internal/app"
)

const webhookSecret = "hostile-webhook-secret"

// TestHostileWebhooks delivers every webhook case of testdata/hostile to
// the App's handler in process: bodies that are not JSON, oversized,
// unsigned, badly signed or of the wrong shape get a 4xx, nothing is
// queued, GitHub is never called and the handler never panics.
func TestHostileWebhooks(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int64
	var logs syncBuffer
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	// newApp builds an App that is never started: a delivery that gets
	// through stays queued, and Idle says so.
	newApp := func(t *testing.T) *app.App {
		a, err := app.New(app.Config{
			AppID:         1,
			PrivateKey:    pemKey,
			WebhookSecret: webhookSecret,
			// GitHub is the net guard's listener: any call is recorded.
			GitHubURL: "http://" + guard.Addr + "/api/v3/",
			CacheDir:  t.TempDir(),
			Runner: app.RunnerFuncs{
				PlanFunc: func(context.Context, *app.Revisions) ([]checks.Env, error) { runs.Add(1); return nil, nil },
				RunFunc:  func(context.Context, *app.Revisions) (*checks.Report, error) { runs.Add(1); return nil, nil },
			},
			Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	_ = guard.Events()
	n := 0
	for _, c := range loadCases(t) {
		if c.Webhook == nil {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			a := newApp(t)
			h := a.Handler()
			w := c.Webhook
			var body []byte
			if w.BodySize > 0 {
				body = bytes.Repeat([]byte(" "), w.BodySize)
				copy(body, `{"action":"opened","padding":"`)
			} else {
				var err error
				if body, err = os.ReadFile(filepath.Join(c.Dir, w.Body)); err != nil {
					t.Fatal(err)
				}
			}
			req := httptest.NewRequest(http.MethodPost, app.WebhookPath, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", w.Event)
			req.Header.Set("X-GitHub-Delivery", "hostile-"+c.Name)
			switch w.Signature {
			case "valid":
				req.Header.Set(app.SignatureHeader, app.Sign([]byte(webhookSecret), body))
			case "wrong":
				req.Header.Set(app.SignatureHeader, app.Sign([]byte("not the secret"), body))
			case "malformed":
				req.Header.Set(app.SignatureHeader, "sha1=zz"+strings.Repeat("0", 38))
			case "tampered":
				req.Header.Set(app.SignatureHeader, app.Sign([]byte(webhookSecret), body))
				tampered := bytes.Replace(body, []byte(`"number": 7`), []byte(`"number": 8`), 1)
				req = httptest.NewRequest(http.MethodPost, app.WebhookPath, bytes.NewReader(tampered))
				req.Header.Set("X-GitHub-Event", w.Event)
				req.Header.Set(app.SignatureHeader, app.Sign([]byte(webhookSecret), body))
			case "none":
			default:
				t.Fatalf("unknown signature mode %q", w.Signature)
			}
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			go func() {
				defer close(done)
				h.ServeHTTP(rec, req)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the handler did not answer within 10s")
			}
			if rec.Code != w.Status {
				t.Errorf("status %d, want %d: %s", rec.Code, w.Status, rec.Body.String())
			}
			if w.Response != "" && !strings.Contains(rec.Body.String(), w.Response) {
				t.Errorf("response %q does not say %q", rec.Body.String(), w.Response)
			}
			if rec.Code < 400 {
				t.Errorf("a hostile delivery was accepted (%d)", rec.Code)
			}
			if !a.Idle() {
				t.Errorf("a hostile delivery was queued")
			}
			if strings.Contains(rec.Body.String(), webhookSecret) || strings.Contains(logs.String(), webhookSecret) {
				t.Errorf("the webhook secret leaked into the response or the logs")
			}
		})
	}
	if n < 8 {
		t.Errorf("%d webhook cases, want at least 8", n)
	}
	if runs.Load() != 0 {
		t.Errorf("the engine ran %d times for hostile deliveries", runs.Load())
	}
	if ev := guard.Events(); len(ev) > 0 {
		t.Errorf("hostile deliveries reached the network: %v", ev)
	}
}
