package githubfake

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

type world struct {
	t   *testing.T
	srv *httptest.Server
	f   *Fake
	key *rsa.PrivateKey
}

func newWorld(t *testing.T) *world {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Options{AppID: 7, AppKey: &key.PublicKey, Installations: map[int64][]string{11: {"o/r"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &world{t: t, srv: srv, f: f, key: key}
}

func (w *world) jwt(method jwt.SigningMethod, key any, claims jwt.RegisteredClaims) string {
	w.t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func validClaims() jwt.RegisteredClaims {
	now := time.Now()
	return jwt.RegisteredClaims{Issuer: "7", IssuedAt: jwt.NewNumericDate(now.Add(-60 * time.Second)), ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute))}
}

func (w *world) do(method, path, auth string, body any) (int, map[string]any) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.srv.URL+path, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (w *world) token() string {
	code, m := w.do("POST", "/app/installations/11/access_tokens", "Bearer "+w.jwt(jwt.SigningMethodRS256, w.key, validClaims()), nil)
	if code != 201 {
		w.t.Fatalf("mint token: %d %v", code, m)
	}
	return m["token"].(string)
}

func TestInstallationTokensNeedAValidAppJWT(t *testing.T) {
	w := newWorld(t)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	expired := validClaims()
	expired.IssuedAt, expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-20*time.Minute)), jwt.NewNumericDate(time.Now().Add(-10*time.Minute))
	tooLong := validClaims()
	tooLong.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	wrongIss := validClaims()
	wrongIss.Issuer = "8"
	cases := []struct {
		name string
		auth string
		path string
		want int
	}{
		{"valid", "Bearer " + w.jwt(jwt.SigningMethodRS256, w.key, validClaims()), "/app/installations/11/access_tokens", 201},
		{"GHE prefix", "Bearer " + w.jwt(jwt.SigningMethodRS256, w.key, validClaims()), "/api/v3/app/installations/11/access_tokens", 201},
		{"no auth", "", "/app/installations/11/access_tokens", 401},
		{"other key", "Bearer " + w.jwt(jwt.SigningMethodRS256, other, validClaims()), "/app/installations/11/access_tokens", 401},
		{"HS256", "Bearer " + w.jwt(jwt.SigningMethodHS256, []byte("k"), validClaims()), "/app/installations/11/access_tokens", 401},
		{"expired", "Bearer " + w.jwt(jwt.SigningMethodRS256, w.key, expired), "/app/installations/11/access_tokens", 401},
		{"exp over 10 minutes", "Bearer " + w.jwt(jwt.SigningMethodRS256, w.key, tooLong), "/app/installations/11/access_tokens", 401},
		{"wrong issuer", "Bearer " + w.jwt(jwt.SigningMethodRS256, w.key, wrongIss), "/app/installations/11/access_tokens", 401},
		{"unknown installation", "Bearer " + w.jwt(jwt.SigningMethodRS256, w.key, validClaims()), "/app/installations/12/access_tokens", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, m := w.do("POST", tc.path, tc.auth, nil)
			if code != tc.want {
				t.Fatalf("status %d (%v), want %d", code, m, tc.want)
			}
			if code == 201 && (!strings.HasPrefix(m["token"].(string), "ghs_") || m["expires_at"] == nil) {
				t.Fatalf("token response %v", m)
			}
		})
	}
	if p := w.f.Problems(); len(p) > 0 {
		t.Errorf("problems: %v", p)
	}
}

func TestCheckRunsAreValidatedLikeGitHub(t *testing.T) {
	w := newWorld(t)
	tok := "token " + w.token()
	ann := func(n int) []any {
		var out []any
		for i := 0; i < n; i++ {
			out = append(out, map[string]any{"path": "a.yaml", "start_line": i + 1, "end_line": i + 1, "annotation_level": "failure", "message": fmt.Sprint("m", i)})
		}
		return out
	}
	cases := []struct {
		name      string
		auth      string
		body      map[string]any
		want      int
		wantField string
	}{
		{"minimal, no status (GitHub defaults to queued)", tok, map[string]any{"name": "gate / prod", "head_sha": "abc"}, 201, ""},
		{"completed with conclusion", tok, map[string]any{"name": "gate / prod", "head_sha": "abc", "status": "completed", "conclusion": "success", "output": map[string]any{"title": "t", "summary": "s", "annotations": ann(50)}}, 201, ""},
		{"51 annotations", tok, map[string]any{"name": "gate / prod", "head_sha": "abc", "output": map[string]any{"title": "t", "summary": "s", "annotations": ann(51)}}, 422, ""},
		{"summary over 65535", tok, map[string]any{"name": "gate / prod", "head_sha": "abc", "output": map[string]any{"title": "t", "summary": strings.Repeat("x", 65536)}}, 422, ""},
		{"completed without conclusion", tok, map[string]any{"name": "gate / prod", "head_sha": "abc", "status": "completed"}, 422, ""},
		{"unknown conclusion", tok, map[string]any{"name": "gate / prod", "head_sha": "abc", "conclusion": "great"}, 422, ""},
		{"missing head_sha", tok, map[string]any{"name": "gate / prod"}, 422, ""},
		{"output without summary", tok, map[string]any{"name": "gate / prod", "head_sha": "abc", "output": map[string]any{"title": "t"}}, 422, ""},
		{"no token", "", map[string]any{"name": "gate / prod", "head_sha": "abc"}, 401, ""},
		{"made-up token", "token ghs_madeup", map[string]any{"name": "gate / prod", "head_sha": "abc"}, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, m := w.do("POST", "/repos/o/r/check-runs", tc.auth, tc.body)
			if code != tc.want {
				t.Fatalf("status %d (%v), want %d", code, m, tc.want)
			}
			if code == 422 {
				errs, _ := m["errors"].([]any)
				if m["message"] != "Validation Failed" || len(errs) == 0 || m["documentation_url"] == nil {
					t.Fatalf("422 body is not GitHub's validation-error shape: %v", m)
				}
			}
		})
	}
	// Another repo is out of the installation's reach.
	if code, _ := w.do("POST", "/repos/o/other/check-runs", tok, map[string]any{"name": "x", "head_sha": "abc"}); code != 401 {
		t.Errorf("token used on another repo: %d, want 401", code)
	}
	// Updates append annotations, like GitHub.
	code, m := w.do("POST", "/repos/o/r/check-runs", tok, map[string]any{"name": "gate / dev", "head_sha": "def", "output": map[string]any{"title": "t", "summary": "s", "annotations": ann(50)}})
	if code != 201 {
		t.Fatal(code, m)
	}
	id := int64(m["id"].(float64))
	code, m = w.do("PATCH", fmt.Sprintf("/repos/o/r/check-runs/%d", id), tok, map[string]any{"name": "gate / dev", "conclusion": "failure", "output": map[string]any{"title": "t2", "summary": "s2", "annotations": ann(20)}})
	if code != 200 || m["status"] != "completed" || m["conclusion"] != "failure" {
		t.Fatalf("update: %d %v", code, m)
	}
	out := m["output"].(map[string]any)
	if out["annotations_count"].(float64) != 70 || out["title"] != "t2" {
		t.Errorf("after update: %v, want 70 annotations and the new title", out)
	}
	for _, cr := range w.f.CheckRuns() {
		if cr.ID == id && strings.Join(cr.Statuses, ",") != "queued,completed" {
			t.Errorf("status history %v, want queued then completed", cr.Statuses)
		}
	}
	if n := len(w.f.Bodies()); n < 2 {
		t.Errorf("the fake kept %d request bodies", n)
	}
	if code, _ := w.do("PATCH", "/repos/o/r/check-runs/999", tok, map[string]any{"name": "x"}); code != 404 {
		t.Errorf("update of a missing check run: %d, want 404", code)
	}
	if code, m := w.do("GET", "/repos/o/r/commits/def/check-runs", tok, nil); code != 200 || m["total_count"].(float64) != 1 {
		t.Errorf("list for ref: %d %v", code, m)
	}
	if code, _ := w.do("DELETE", "/repos/o/r/check-runs/1", tok, nil); code != 404 {
		t.Errorf("a route GitHub does not have: %d, want 404", code)
	}
	p := w.f.Problems()
	if len(p) != 1 || !strings.Contains(p[0], "no such route") {
		t.Errorf("problems %v, want exactly the DELETE", p)
	}
}

func TestFaults(t *testing.T) {
	w := newWorld(t)
	tok := "token " + w.token()
	w.f.SetFaults(func(op string, n int) *Fault {
		switch n {
		case 1:
			return &Fault{Status: 502}
		case 2:
			return &Fault{Status: 403, RetryAfter: 2 * time.Second}
		case 3:
			return &Fault{Delay: 200 * time.Millisecond}
		case 4:
			return &Fault{Status: 502, Lost: true}
		}
		return nil
	})
	body := map[string]any{"name": "x", "head_sha": "abc"}
	if code, _ := w.do("POST", "/repos/o/r/check-runs", tok, body); code != 502 {
		t.Errorf("fault 1: %d, want 502", code)
	}
	req, _ := http.NewRequest("POST", w.srv.URL+"/repos/o/r/check-runs", strings.NewReader(`{"name":"x","head_sha":"abc"}`))
	req.Header.Set("Authorization", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("Retry-After") != "2" || !strings.Contains(string(b), "secondary rate limit") {
		t.Errorf("fault 2: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	start := time.Now()
	if code, _ := w.do("POST", "/repos/o/r/check-runs", tok, body); code != 201 || time.Since(start) < 200*time.Millisecond {
		t.Errorf("fault 3: %d after %s, want 201 after 200ms", code, time.Since(start))
	}
	if n := len(w.f.CheckRuns()); n != 1 {
		t.Errorf("%d check runs recorded, want 1 (faulted requests create nothing)", n)
	}
	if code, _ := w.do("POST", "/repos/o/r/check-runs", tok, body); code != 502 {
		t.Errorf("fault 4: %d, want 502", code)
	}
	if n := len(w.f.CheckRuns()); n != 2 {
		t.Errorf("%d check runs recorded, want 2 (a lost answer still creates)", n)
	}
}
