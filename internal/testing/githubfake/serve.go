package githubfake

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

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
