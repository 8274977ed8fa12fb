package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/internal/testing/apptest"
)

// TestEveryEventIsHandled replays every event and action the App
// subscribes to, from GitHub's real payloads adapted to the test repo
// (ready_for_review is the opened payload with its action, as GitHub sends
// it), and checks which start a run. A run creates one check run per
// environment as queued, starts it, and completes it.
func TestEveryEventIsHandled(t *testing.T) {
	w := newWorld(t, nil, nil)
	prFor := func(n int, head string) []any {
		return []any{map[string]any{"number": n, "head": map[string]any{"ref": fmt.Sprintf("pr-%d", n), "sha": head}, "base": map[string]any{"ref": "main", "sha": w.Repo.Main}}}
	}
	cases := []struct {
		name    string
		event   string
		payload func(pr int, head string) []byte
		runs    bool
		outcome string // the gate_webhooks_total outcome label
	}{
		{"pull_request.opened", "pull_request", func(pr int, head string) []byte { return w.PullRequest("opened", pr, head, time.Now()) }, true, "queued"},
		{"pull_request.synchronize", "pull_request", func(pr int, head string) []byte { return w.PullRequest("synchronize", pr, head, time.Now()) }, true, "queued"},
		{"pull_request.reopened", "pull_request", func(pr int, head string) []byte { return w.PullRequest("reopened", pr, head, time.Now()) }, true, "queued"},
		{"pull_request.ready_for_review", "pull_request", func(pr int, head string) []byte {
			b := w.PullRequest("opened", pr, head, time.Now())
			return []byte(strings.Replace(string(b), `"action":"opened"`, `"action":"ready_for_review"`, 1))
		}, true, "queued"},
		{"pull_request.labeled", "pull_request", func(pr int, head string) []byte {
			b := w.PullRequest("opened", pr, head, time.Now())
			return []byte(strings.Replace(string(b), `"action":"opened"`, `"action":"labeled"`, 1))
		}, false, "ignored"},
		{"pull_request.closed", "pull_request", func(pr int, head string) []byte { return w.PullRequest("closed", pr, head, time.Now()) }, false, "cancelled"},
		{"check_suite.requested", "check_suite", func(pr int, head string) []byte {
			return w.Payload("check_suite.requested", map[string]any{"check_suite.head_sha": head, "check_suite.pull_requests": prFor(pr, head)})
		}, true, "queued"},
		{"check_suite.rerequested", "check_suite", func(pr int, head string) []byte {
			return w.Payload("check_suite.rerequested", map[string]any{"check_suite.head_sha": head, "check_suite.pull_requests": prFor(pr, head)})
		}, true, "queued"},
		{"check_suite.requested without a pull request", "check_suite", func(pr int, head string) []byte {
			return w.Payload("check_suite.requested", map[string]any{"check_suite.head_sha": head, "check_suite.pull_requests": []any{}})
		}, false, "ignored"},
		{"check_run.rerequested (octokit payload as is)", "check_run", func(pr int, head string) []byte {
			return w.Payload("check_run.rerequested", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": prFor(pr, head)})
		}, true, "queued"},
		{"check_run.rerequested (GitHub's OpenAPI example)", "check_run", func(pr int, head string) []byte {
			return w.Payload("check_run.rerequested.openapi-example", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": prFor(pr, head)})
		}, true, "queued"},
		{"check_run.requested_action rerun", "check_run", func(pr int, head string) []byte {
			return w.Payload("check_run.requested_action", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": prFor(pr, head), "requested_action.identifier": "rerun"})
		}, true, "queued"},
		{"check_run.requested_action of another button", "check_run", func(pr int, head string) []byte {
			return w.Payload("check_run.requested_action", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": prFor(pr, head), "requested_action.identifier": "fix-it"})
		}, false, "ignored"},
		{"check_run.created (gate's own check runs)", "check_run", func(pr int, head string) []byte {
			b := w.Payload("check_run.rerequested", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": prFor(pr, head)})
			return []byte(strings.Replace(string(b), `"action":"rerequested"`, `"action":"created"`, 1))
		}, false, "ignored"},
		{"installation.created", "installation", func(int, string) []byte { return w.Payload("installation.created", nil) }, false, "handled"},
		{"installation.deleted", "installation", func(int, string) []byte {
			b := w.Payload("installation.created", nil)
			return []byte(strings.Replace(string(b), `"action":"created"`, `"action":"deleted"`, 1))
		}, false, "handled"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pr := 100 + i
			head := w.Repo.Commit(w.Repo.Main, nil, tc.name)
			w.Repo.SetRef(fmt.Sprintf("refs/pull/%d/head", pr), head)
			action := tc.name[strings.IndexByte(tc.name, '.')+1:]
			if i := strings.IndexAny(action, " "); i > 0 {
				action = action[:i]
			}
			body := tc.payload(pr, head)
			if !strings.Contains(string(body), `"action":"`+action+`"`) {
				t.Fatalf("payload is not a %s delivery: %.200s", action, body)
			}
			resp := w.Deliver(tc.event, body, []byte(apptest.Secret))
			if resp.StatusCode/100 != 2 {
				t.Fatalf("%s answered %d", tc.name, resp.StatusCode)
			}
			w.WaitIdle(time.Minute)
			runs := w.RunsFor(head)
			if !tc.runs {
				if len(runs) != 0 {
					t.Errorf("%s started a run: %v", tc.name, names(runs))
				}
			} else {
				if len(runs) != 3 {
					t.Fatalf("%s: %d check runs, want 3 (one per environment): %v\n%s", tc.name, len(runs), names(runs), w.LogBuf.String())
				}
				for name, cr := range runs {
					if got := strings.Join(cr.Statuses, " -> "); got != "queued -> in_progress -> completed" {
						t.Errorf("%s went %s, want queued -> in_progress -> completed", name, got)
					}
					if !strings.HasPrefix(name, "gate / ") {
						t.Errorf("check run named %q, want gate / <env>", name)
					}
				}
			}
			m := get(t, w.AppURL+"/metrics")
			want := fmt.Sprintf(`gate_webhooks_total{action=%q,event=%q,outcome=%q}`, action, tc.event, tc.outcome)
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		})
	}
	assertCompleted(t, w.Fake)
}

// TestRerunOfForkCheckRun: GitHub sends check_run.rerequested with no pull
// requests when the head is a fork's; the check run's external_id still
// leads to the pull request and its base.
func TestRerunOfForkCheckRun(t *testing.T) {
	w := newWorld(t, nil, nil)
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas (from a fork)")
	w.Repo.SetRef("refs/pull/18/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 18, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	prod := w.RunsFor(head)["gate / prod"]
	if prod.ExternalID == "" {
		t.Fatal("check runs carry no external_id")
	}
	body := w.Payload("check_run.rerequested", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": []any{},
		"check_run.external_id": prod.ExternalID, "check_run.id": prod.ID, "check_run.check_suite.pull_requests": []any{}})
	w.Deliver("check_run", body, []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	again := w.RunsFor(head)
	if cr := again["gate / prod"]; cr.ID == prod.ID || cr.Conclusion != "success" {
		t.Errorf("after the Re-run: gate / prod id %d (was %d), %s; want a new successful check run", cr.ID, prod.ID, cr.Conclusion)
	}
	// An external_id naming another repository is not followed.
	other := strings.Replace(prod.ExternalID, apptest.FullName, "evil/repo", 1)
	body = w.Payload("check_run.rerequested", map[string]any{"check_run.head_sha": head, "check_run.pull_requests": []any{}, "check_run.external_id": other})
	before := len(w.Fake.CheckRuns())
	w.Deliver("check_run", body, []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	if n := len(w.Fake.CheckRuns()); n != before {
		t.Errorf("an external_id of another repository started a run (%d new check runs)", n-before)
	}
	assertCompleted(t, w.Fake)
}

// TestRerunAllOfForkSuite: "Re-run all checks" on a fork's head sends
// check_suite.rerequested with no pull requests; gate finds the pull
// request from its own check runs on the head and checks it again.
func TestRerunAllOfForkSuite(t *testing.T) {
	w := newWorld(t, nil, nil)
	head := w.Repo.Commit(w.Repo.Main, replicas(w, 4), "prod: 4 replicas (from a fork)")
	w.Repo.SetRef("refs/pull/27/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 27, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	first := w.RunsFor(head)["gate / prod"]
	suite := w.Payload("check_suite.rerequested", map[string]any{"check_suite.head_sha": head, "check_suite.pull_requests": []any{}})
	if resp := w.Deliver("check_suite", suite, []byte(apptest.Secret)); resp.StatusCode != http.StatusOK {
		t.Fatalf("check_suite.rerequested answered %d", resp.StatusCode)
	}
	w.WaitIdle(time.Minute)
	again := w.RunsFor(head)["gate / prod"]
	if again.ID == first.ID || again.Conclusion != "success" {
		t.Errorf("after Re-run all: gate / prod id %d (was %d) %s; want a new successful check run", again.ID, first.ID, again.Conclusion)
	}
	if n := len(w.Fake.CheckRuns()); n != 6 {
		t.Errorf("%d check runs, want 6 (one Re-run of the pull request, not one per check run)", n)
	}
	// A head gate never checked stays unchecked.
	other := w.Repo.Commit(w.Repo.Main, nil, "no pull request")
	w.Deliver("check_suite", w.Payload("check_suite.rerequested", map[string]any{"check_suite.head_sha": other, "check_suite.pull_requests": []any{}}), []byte(apptest.Secret))
	w.WaitIdle(time.Minute)
	if n := len(w.RunsFor(other)); n != 0 {
		t.Errorf("a head without gate check runs got %d", n)
	}
	assertCompleted(t, w.Fake)
}
