// Package githubfake is a fake GitHub REST API for tests of the App. It is
// strict where GitHub is: every request is routed and validated against
// GitHub's own OpenAPI description of the Checks and App-token endpoints
// (spec/checks-and-apps.openapi.json, kin-openapi), an invalid one gets 422
// with GitHub's validation-error shape, installation tokens are minted only
// for a valid RS256 app JWT, and the checks endpoints want such a token. It
// records every check run, validates its own responses against the response
// schemas so it cannot drift from GitHub, and injects faults on demand (5xx,
// secondary rate limits with Retry-After, slow answers).
package githubfake

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/golang-jwt/jwt/v4"
)

//go:embed spec/checks-and-apps.openapi.json
var specJSON []byte

const docsURL = "https://docs.github.com/rest/checks/runs"

// Options configure the fake.
type Options struct {
	// AppID is the GitHub App id the JWT's iss must name.
	AppID int64
	// AppKey is the public half of the App's private key.
	AppKey *rsa.PublicKey
	// Installations maps installation id to the repositories
	// ("owner/name") it is installed on.
	Installations map[int64][]string
	// TokenTTL is how long minted installation tokens live (default 1h).
	TokenTTL time.Duration
}

// Annotation is a recorded check-run annotation.
type Annotation struct {
	Path      string `json:"path"`
	StartLine int    `json:"start_line"`
	EndLine   int    `json:"end_line"`
	Level     string `json:"annotation_level"`
	Title     string `json:"title,omitempty"`
	Message   string `json:"message"`
}

// CheckRun is a check run as the fake holds it.
type CheckRun struct {
	ID          int64
	Repo        string
	Name        string
	HeadSHA     string
	Status      string
	Conclusion  string
	DetailsURL  string
	ExternalID  string
	Title       string
	Summary     string
	Text        string
	Annotations []Annotation
	// Statuses lists every status the check run went through, in order
	// (queued, in_progress, completed), without repeats.
	Statuses []string
	// Actions are the identifiers of its requested-action buttons.
	Actions []string
	// Conclusions lists every conclusion it was given, in order, without
	// repeats: more than one means a conclusion was overwritten.
	Conclusions []string
	// Requests counts the create and update requests that touched it.
	Requests    int
	StartedAt   time.Time
	CompletedAt time.Time
	// DoneAt is when the fake first saw it completed (its own clock).
	DoneAt time.Time
}

// Fault is an injected failure: a status (with an optional Retry-After) and
// or a delay before answering.
type Fault struct {
	Status     int
	RetryAfter time.Duration
	Delay      time.Duration
	// Lost carries the request out first and then fails the answer (the
	// delay and or status): GitHub did the work, the client never heard.
	Lost bool
}

// FaultFunc decides the fault for the n-th request (1-based, counted per
// operation id such as "checks/create") or returns nil to answer normally.
type FaultFunc func(op string, n int) *Fault

// Fake is the fake GitHub. Serve it with net/http (httptest.NewServer).
type Fake struct {
	opts   Options
	doc    *openapi3.T
	router routers.Router

	mu       sync.Mutex
	tokens   map[string]token
	runs     map[int64]*CheckRun
	nextID   int64
	counts   map[string]int
	fault    FaultFunc
	problems []string
	log      []string
	bodies   [][]byte
}

type token struct {
	installation int64
	repos        []string
	expires      time.Time
}

// New loads the OpenAPI description and returns a fake.
func New(opts Options) (*Fake, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(specJSON)
	if err != nil {
		return nil, fmt.Errorf("load GitHub OpenAPI description: %w", err)
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("validate GitHub OpenAPI description: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route GitHub OpenAPI description: %w", err)
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	return &Fake{opts: opts, doc: doc, router: router, tokens: map[string]token{}, runs: map[int64]*CheckRun{}, nextID: 4000000, counts: map[string]int{}}, nil
}

// SetFaults installs (or with nil removes) a fault injector.
func (f *Fake) SetFaults(fn FaultFunc) {
	f.mu.Lock()
	f.fault = fn
	f.mu.Unlock()
}

// CheckRuns returns a copy of every check run, by id.
func (f *Fake) CheckRuns() []CheckRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]CheckRun, 0, len(f.runs))
	for _, r := range f.runs {
		c := *r
		c.Annotations = append([]Annotation(nil), r.Annotations...)
		c.Statuses = append([]string(nil), r.Statuses...)
		c.Conclusions = append([]string(nil), r.Conclusions...)
		c.Actions = append([]string(nil), r.Actions...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Problems lists requests the fake could not answer as GitHub would:
// routes outside the description and responses failing its schemas. A
// correct App leaves it empty.
func (f *Fake) Problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.problems...)
}

// Log lists "METHOD path -> status" of every request, in order.
func (f *Fake) Log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// Bodies returns the raw body of every request the fake received, in
// order (tests search them for what must never leave the App).
func (f *Fake) Bodies() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.bodies...)
}

// Count returns how many requests an operation id received.
func (f *Fake) Count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

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

func (f *Fake) problem(format string, args ...any) {
	f.mu.Lock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(s int) {
	r.status = s
	r.ResponseWriter.WriteHeader(s)
}

// ServeHTTP implements http.Handler. Paths may carry GitHub Enterprise's
// /api/v3 prefix.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, status: 200}
	f.serve(rec, r)
	f.mu.Lock()
	f.log = append(f.log, fmt.Sprintf("%s %s -> %d", r.Method, r.URL.Path, rec.status))
	f.mu.Unlock()
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "could not read body"})
		return
	}
	if len(body) > 0 {
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
	}
	p := strings.TrimPrefix(r.URL.Path, "/api/v3")
	u, _ := url.Parse("https://api.github.com" + p)
	u.RawQuery = r.URL.RawQuery
	vr := r.Clone(r.Context())
	vr.URL = u
	vr.Host = u.Host
	vr.RequestURI = ""
	route, params, err := f.router.FindRoute(vr)
	if err != nil {
		f.problem("%s %s: no such route in the GitHub description: %v", r.Method, r.URL.Path, err)
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
		return
	}
	op := route.Operation.OperationID
	f.mu.Lock()
	f.counts[op]++
	n := f.counts[op]
	fault := f.fault
	f.mu.Unlock()
	var lost *Fault
	if fault != nil {
		if ft := fault(op, n); ft != nil && ft.Lost {
			lost = ft
		} else if ft != nil {
			if ft.Delay > 0 {
				select {
				case <-time.After(ft.Delay):
				case <-r.Context().Done():
					return
				}
			}
			if ft.Status != 0 {
				writeFault(w, ft)
				return
			}
		}
	}

	if op == "checks/create" {
		body = defaultStatus(body)
	}
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		// GitHub reads a JSON null body as no body; ghinstallation sends
		// one when it has no token options.
		body = nil
	}
	vr.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{
		Request: vr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, validationError(op, err))
		return
	}

	var status int
	var resp any
	switch op {
	case "apps/create-installation-access-token":
		status, resp = f.mintToken(r, params, body)
	case "checks/create", "checks/update", "checks/get", "checks/list-for-ref", "checks/list-annotations":
		repo := params["owner"] + "/" + params["repo"]
		if !f.authorized(r, repo) {
			status, resp = http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
			break
		}
		status, resp = f.checks(op, repo, params, body)
	default:
		f.problem("%s %s: operation %s is not implemented by the fake", r.Method, r.URL.Path, op)
		status, resp = http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
	}
	out, _ := json.Marshal(resp)
	if status < 300 {
		f.validateResponse(r.Context(), in, status, out)
	}
	if lost != nil {
		if lost.Delay > 0 {
			select {
			case <-time.After(lost.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if lost.Status != 0 {
			writeFault(w, lost)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func writeFault(w http.ResponseWriter, ft *Fault) {
	if ft.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ft.RetryAfter+time.Second-1)/time.Second)))
	}
	switch ft.Status {
	case http.StatusForbidden, http.StatusTooManyRequests:
		writeJSON(w, ft.Status, map[string]any{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(ft.Status)
		_, _ = io.WriteString(w, "<html><body><h1>"+strconv.Itoa(ft.Status)+" "+http.StatusText(ft.Status)+"</h1></body></html>")
	}
}

// defaultStatus adds GitHub's default status to a checks/create body that
// has none: GitHub accepts it as queued, but the description's
// discriminator would make kin-openapi refuse it.
func defaultStatus(body []byte) []byte {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	if _, ok := m["status"]; ok {
		return body
	}
	if _, ok := m["conclusion"]; ok {
		m["status"] = "completed"
	} else {
		m["status"] = "queued"
	}
	b, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return b
}

func validationError(op string, err error) map[string]any {
	var errs []map[string]any
	var list openapi3.MultiError
	add := func(e error) {
		item := map[string]any{"resource": resourceOf(op), "code": "invalid", "message": e.Error()}
		if re, ok := e.(*openapi3filter.RequestError); ok {
			if se, ok := re.Err.(*openapi3.SchemaError); ok {
				item["field"] = strings.Join(se.JSONPointer(), ".")
			}
		}
		if se, ok := e.(*openapi3.SchemaError); ok {
			item["field"] = strings.Join(se.JSONPointer(), ".")
		}
		errs = append(errs, item)
	}
	if asMulti(err, &list) {
		for _, e := range list {
			if inner, ok := e.(*openapi3filter.RequestError); ok {
				var ml openapi3.MultiError
				if asMulti(inner.Err, &ml) {
					for _, e2 := range ml {
						add(e2)
					}
					continue
				}
			}
			add(e)
		}
	} else {
		add(err)
	}
	return map[string]any{"message": "Validation Failed", "errors": errs, "documentation_url": docsURL}
}

func asMulti(err error, out *openapi3.MultiError) bool {
	if m, ok := err.(openapi3.MultiError); ok {
		*out = m
		return true
	}
	return false
}

func resourceOf(op string) string {
	if strings.HasPrefix(op, "apps/") {
		return "InstallationToken"
	}
	return "CheckRun"
}

func (f *Fake) validateResponse(ctx context.Context, in *openapi3filter.RequestValidationInput, status int, body []byte) {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	rv := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: h,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, rv); err != nil {
		f.problem("%s: the fake's own %d response fails GitHub's schema: %v", in.Route.Operation.OperationID, status, err)
	}
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

type runBody struct {
	Name        *string `json:"name"`
	HeadSHA     string  `json:"head_sha"`
	DetailsURL  *string `json:"details_url"`
	ExternalID  *string `json:"external_id"`
	Status      *string `json:"status"`
	Conclusion  *string `json:"conclusion"`
	StartedAt   *string `json:"started_at"`
	CompletedAt *string `json:"completed_at"`
	Actions     []struct {
		Identifier string `json:"identifier"`
	} `json:"actions"`
	Output *struct {
		Title       string       `json:"title"`
		Summary     string       `json:"summary"`
		Text        *string      `json:"text"`
		Annotations []Annotation `json:"annotations"`
	} `json:"output"`
}

func (f *Fake) checks(op, repo string, params map[string]string, body []byte) (int, any) {
	notFound := map[string]any{"message": "Not Found", "documentation_url": docsURL}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op {
	case "checks/create", "checks/update":
		var b runBody
		if err := json.Unmarshal(body, &b); err != nil {
			return http.StatusBadRequest, map[string]any{"message": "Problems parsing JSON", "documentation_url": docsURL}
		}
		var cr *CheckRun
		status := http.StatusOK
		if op == "checks/create" {
			f.nextID++
			cr = &CheckRun{ID: f.nextID, Repo: repo, HeadSHA: b.HeadSHA, Status: "queued"}
			f.runs[cr.ID] = cr
			status = http.StatusCreated
		} else {
			id, _ := strconv.ParseInt(params["check_run_id"], 10, 64)
			var ok bool
			if cr, ok = f.runs[id]; !ok || cr.Repo != repo {
				return http.StatusNotFound, notFound
			}
		}
		apply(cr, &b)
		return status, f.runJSON(cr)
	case "checks/get":
		id, _ := strconv.ParseInt(params["check_run_id"], 10, 64)
		cr, ok := f.runs[id]
		if !ok || cr.Repo != repo {
			return http.StatusNotFound, notFound
		}
		return http.StatusOK, f.runJSON(cr)
	case "checks/list-annotations":
		id, _ := strconv.ParseInt(params["check_run_id"], 10, 64)
		cr, ok := f.runs[id]
		if !ok || cr.Repo != repo {
			return http.StatusNotFound, notFound
		}
		out := []any{}
		for _, a := range cr.Annotations {
			out = append(out, map[string]any{"path": a.Path, "start_line": a.StartLine, "end_line": a.EndLine, "start_column": nil, "end_column": nil,
				"annotation_level": a.Level, "title": a.Title, "message": a.Message, "raw_details": nil, "blob_href": "https://github.com/" + repo + "/blob/" + cr.HeadSHA + "/" + a.Path})
		}
		return http.StatusOK, out
	default: // checks/list-for-ref
		var list []any
		for _, cr := range f.sortedRuns() {
			if cr.Repo == repo && cr.HeadSHA == params["ref"] {
				list = append(list, f.runJSON(cr))
			}
		}
		if list == nil {
			list = []any{}
		}
		return http.StatusOK, map[string]any{"total_count": len(list), "check_runs": list}
	}
}

func (f *Fake) sortedRuns() []*CheckRun {
	out := make([]*CheckRun, 0, len(f.runs))
	for _, r := range f.runs {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// apply merges a create or update body into a check run the way GitHub
// does: fields replace, annotations append, a conclusion completes the run.
func apply(cr *CheckRun, b *runBody) {
	cr.Requests++
	if b.Name != nil {
		cr.Name = *b.Name
	}
	if b.DetailsURL != nil {
		cr.DetailsURL = *b.DetailsURL
	}
	if b.ExternalID != nil {
		cr.ExternalID = *b.ExternalID
	}
	if b.Status != nil {
		cr.Status = *b.Status
	}
	if b.StartedAt != nil {
		cr.StartedAt, _ = time.Parse(time.RFC3339, *b.StartedAt)
	}
	if b.Conclusion != nil {
		cr.Conclusion = *b.Conclusion
		cr.Status = "completed"
		if n := len(cr.Conclusions); n == 0 || cr.Conclusions[n-1] != cr.Conclusion {
			cr.Conclusions = append(cr.Conclusions, cr.Conclusion)
		}
	}
	if cr.Status == "completed" && cr.DoneAt.IsZero() {
		cr.DoneAt = time.Now()
	}
	if n := len(cr.Statuses); n == 0 || cr.Statuses[n-1] != cr.Status {
		cr.Statuses = append(cr.Statuses, cr.Status)
	}
	if b.Actions != nil {
		cr.Actions = cr.Actions[:0]
		for _, a := range b.Actions {
			cr.Actions = append(cr.Actions, a.Identifier)
		}
	}
	if cr.Status == "completed" && cr.CompletedAt.IsZero() {
		cr.CompletedAt = time.Now().UTC()
		if b.CompletedAt != nil {
			cr.CompletedAt, _ = time.Parse(time.RFC3339, *b.CompletedAt)
		}
	}
	if b.Output != nil {
		cr.Title = b.Output.Title
		cr.Summary = b.Output.Summary
		if b.Output.Text != nil {
			cr.Text = *b.Output.Text
		}
		cr.Annotations = append(cr.Annotations, b.Output.Annotations...)
	}
}

// runJSON is the check-run object GitHub returns, built on the
// description's own example so every required field is there.
func (f *Fake) runJSON(cr *CheckRun) map[string]any {
	api := "https://api.github.com/repos/" + cr.Repo + "/check-runs/" + strconv.FormatInt(cr.ID, 10)
	m := exampleCheckRun(f.doc)
	m["id"] = cr.ID
	m["node_id"] = fmt.Sprintf("CR_fake%d", cr.ID)
	m["head_sha"] = cr.HeadSHA
	m["name"] = cr.Name
	m["url"] = api
	m["html_url"] = "https://github.com/" + cr.Repo + "/runs/" + strconv.FormatInt(cr.ID, 10)
	m["details_url"] = nullable(cr.DetailsURL)
	m["external_id"] = nullable(cr.ExternalID)
	m["status"] = cr.Status
	m["conclusion"] = nullable(cr.Conclusion)
	m["started_at"] = timeOrNil(cr.StartedAt)
	m["completed_at"] = timeOrNil(cr.CompletedAt)
	m["output"] = map[string]any{"title": nullable(cr.Title), "summary": nullable(cr.Summary), "text": nullable(cr.Text),
		"annotations_count": len(cr.Annotations), "annotations_url": api + "/annotations"}
	m["pull_requests"] = []any{}
	m["check_suite"] = map[string]any{"id": 5000000 + cr.ID%1000}
	delete(m, "deployment")
	return m
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// exampleCheckRun deep-copies the description's example check run.
func exampleCheckRun(doc *openapi3.T) map[string]any {
	ex := doc.Components.Examples["check-run"]
	if ex == nil || ex.Value == nil {
		return map[string]any{}
	}
	b, _ := json.Marshal(ex.Value.Value)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
