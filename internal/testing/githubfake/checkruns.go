package githubfake

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

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
