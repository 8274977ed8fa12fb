package githubfake

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// TokenValid reports whether token is a live installation token that may
// read repo; the test git server uses it for x-access-token basic auth.
func (f *Fake) TokenValid(repo, tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenAllows(tok, repo)
}

// RevokeTokens revokes every installation token minted so far (an
// installation suspended and restored, a token leaked and revoked): the
// API and git answer 401 to them from now on.
func (f *Fake) RevokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.tokens)
}

func (f *Fake) tokenAllows(tok, repo string) bool {
	t, ok := f.tokens[tok]
	if !ok || time.Now().After(t.expires) {
		return false
	}
	if !contains(f.opts.Installations[t.installation], repo) {
		return false
	}
	return len(t.repos) == 0 || contains(t.repos, repo[strings.IndexByte(repo, '/')+1:])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// mintToken implements POST /app/installations/{id}/access_tokens: only for
// a valid RS256 JWT issued by the App, as GitHub Docs describe it.
func (f *Fake) mintToken(r *http.Request, params map[string]string, body []byte) (int, any) {
	unauthorized := func(msg string) (int, any) {
		return http.StatusUnauthorized, map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest"}
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "Bearer ") {
		return unauthorized("A JSON web token could not be decoded")
	}
	if err := f.verifyJWT(strings.TrimPrefix(auth, "Bearer ")); err != nil {
		return unauthorized(err.Error())
	}
	id, _ := strconv.ParseInt(params["installation_id"], 10, 64)
	installed, ok := f.opts.Installations[id]
	if !ok {
		return http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
	}
	var req struct {
		Repositories []string `json:"repositories"`
	}
	if len(body) > 0 {
		_ = json.Unmarshal(body, &req)
	}
	for _, name := range req.Repositories {
		found := false
		for _, full := range installed {
			if strings.HasSuffix(full, "/"+name) {
				found = true
			}
		}
		if !found {
			return http.StatusUnprocessableEntity, map[string]any{"message": "There is at least one repository that does not exist or is not accessible to the parent installation.", "documentation_url": "https://docs.github.com/rest"}
		}
	}
	buf := make([]byte, 20)
	_, _ = rand.Read(buf)
	tok := "ghs_" + hex.EncodeToString(buf)
	exp := time.Now().Add(f.opts.TokenTTL).UTC().Truncate(time.Second)
	f.mu.Lock()
	f.tokens[tok] = token{installation: id, repos: req.Repositories, expires: exp}
	f.mu.Unlock()
	selection := "all"
	if len(req.Repositories) > 0 {
		selection = "selected"
	}
	return http.StatusCreated, map[string]any{
		"token": tok, "expires_at": exp.Format(time.RFC3339),
		"permissions":          map[string]any{"checks": "write", "contents": "read", "pull_requests": "read", "metadata": "read"},
		"repository_selection": selection,
	}
}

func (f *Fake) verifyJWT(raw string) error {
	if f.opts.AppKey == nil {
		return fmt.Errorf("the fake has no app key")
	}
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() != "RS256" {
			return nil, fmt.Errorf("JWT must be RS256, got %s", t.Method.Alg())
		}
		return f.opts.AppKey, nil
	})
	if err != nil {
		return fmt.Errorf("'Expiration time' claim ('exp') or signature is invalid: %v", err)
	}
	now := time.Now()
	if claims.Issuer != strconv.FormatInt(f.opts.AppID, 10) {
		return fmt.Errorf("'Issuer' claim ('iss') must be the App id %d, got %q", f.opts.AppID, claims.Issuer)
	}
	if claims.ExpiresAt == nil || claims.IssuedAt == nil {
		return fmt.Errorf("JWT needs 'iat' and 'exp'")
	}
	if claims.ExpiresAt.Sub(now) > 10*time.Minute+30*time.Second {
		return fmt.Errorf("'Expiration time' claim ('exp') is too far in the future")
	}
	if claims.IssuedAt.After(now.Add(60 * time.Second)) {
		return fmt.Errorf("'Issued at' claim ('iat') must be an Integer representing a time in the past")
	}
	return nil
}

func (f *Fake) authorized(r *http.Request, repo string) bool {
	auth := r.Header.Get("Authorization")
	var tok string
	switch {
	case strings.HasPrefix(auth, "token "):
		tok = strings.TrimPrefix(auth, "token ")
	case strings.HasPrefix(auth, "Bearer "):
		tok = strings.TrimPrefix(auth, "Bearer ")
	default:
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenAllows(tok, repo)
}
