package app_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gate-ops/gate/internal/testing/apptest"
	"github.com/gate-ops/gate/internal/testing/githubfake"
	"github.com/gate-ops/gate/internal/testing/pgtest"
)

// fastServe are `gate serve` timings short enough for tests; what they
// bound (retries, backoff, rescue) is the same code as in production.
var fastServe = []string{"--workers", "2", "--poll-interval", "200ms",
	"--github-retries", "4", "--github-retry-base", "20ms", "--github-max-wait", "5s", "--github-attempt-timeout", "10s",
	"--job-retry-base", "500ms", "--job-retry-max", "3s", "--run-timeout", "90s", "--publish-timeout", "30s", "--shutdown-grace", "2s"}

// activeJobs counts the queue's unfinished jobs in Postgres.
func activeJobs(t *testing.T, dsn string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitHeads waits until every head has want check runs, all completed, and
// the queue is empty.
func waitHeads(t *testing.T, w *apptest.World, heads []string, want int, idle func() bool, timeout time.Duration, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done := idle()
		for _, h := range heads {
			runs := w.RunsFor(h)
			if len(runs) != want {
				done = false
				break
			}
			for _, cr := range runs {
				if cr.Status != "completed" {
					done = false
				}
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			for _, h := range heads {
				t.Logf("%s: %d check runs", h[:8], len(w.RunsFor(h)))
			}
			t.Fatalf("check runs not all completed after %s; logs:\n%s", timeout, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// assertOnce checks that every check run of every head is completed, that
// each latest head has exactly one check run per environment, that no
// check run's conclusion was overwritten and that no annotation is on
// GitHub twice.
func assertOnce(t *testing.T, f *githubfake.Fake, latest []string) {
	t.Helper()
	assertCompleted(t, f)
	isLatest := map[string]bool{}
	for _, h := range latest {
		isLatest[h] = true
	}
	perName := map[string]int{}
	for _, cr := range f.CheckRuns() {
		if len(cr.Conclusions) > 1 {
			t.Errorf("check run %d %q on %s: conclusion overwritten: %v", cr.ID, cr.Name, cr.HeadSHA[:8], cr.Conclusions)
		}
		seen := map[string]bool{}
		for _, a := range cr.Annotations {
			k := fmt.Sprintf("%s:%d:%s", a.Path, a.StartLine, a.Message)
			if seen[k] {
				t.Errorf("check run %d %q on %s: annotation %s is there twice", cr.ID, cr.Name, cr.HeadSHA[:8], k)
			}
			seen[k] = true
		}
		if isLatest[cr.HeadSHA] {
			perName[cr.HeadSHA+" "+cr.Name]++
		}
	}
	for k, n := range perName {
		if n != 1 {
			t.Errorf("%s has %d check runs, want exactly 1", k, n)
		}
	}
}

// TestReplicasOnPostgres: three `gate serve` processes share one real
// Postgres; 100 webhooks for 20 pull requests (5 pushes each) are spread
// over them while the fake GitHub fails 20% of check-run writes with 502
// (half of them after applying the write) and answers one 429 with
// Retry-After. Every latest head ends with one completed check run per
// environment, the failing ones with their annotations once, and no
// conclusion is overwritten.
func TestReplicasOnPostgres(t *testing.T) {
	t.Parallel() // mostly waiting (rescue, outage, processes): overlap with the others
	if testing.Short() {
		t.Skip("starts Postgres and three gate serve processes")
	}
	pg := pgtest.StartTB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	dsn, err := pg.CreateDB(ctx, t.Name())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	w := apptest.New(t, apptest.Options{Example: example, NoApp: true})
	var serves []*apptest.Serve
	for i := 0; i < 3; i++ {
		serves = append(serves, w.StartServe(t, apptest.ServeOptions{DatabaseURL: dsn, Args: fastServe}))
	}
	logs := func() string {
		var b strings.Builder
		for i, s := range serves {
			fmt.Fprintf(&b, "== replica %d\n%s\n", i, tailString(s.Logs(), 3000))
		}
		return b.String()
	}
	w.Fake.SetFaults(func(op string, n int) *githubfake.Fault {
		if op != "checks/create" && op != "checks/update" {
			return nil
		}
		if op == "checks/update" && n == 7 {
			return &githubfake.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second}
		}
		if n%5 == 0 {
			return &githubfake.Fault{Status: http.StatusBadGateway, Lost: n%10 == 0}
		}
		return nil
	})
	const prs, pushes = 20, 5
	broken, _ := remoteBase(w)
	heads := make([][]string, prs)
	for pr := range prs {
		parent := w.Repo.Main
		for p := range pushes {
			files := map[string][]byte{fmt.Sprintf("notes/pr-%d.txt", pr): []byte(fmt.Sprintf("push %d\n", p))}
			if p == pushes-1 && pr%4 == 0 {
				for k, v := range broken {
					files[k] = v
				}
			}
			parent = w.Repo.Commit(parent, files, fmt.Sprintf("pr %d push %d", pr, p))
			heads[pr] = append(heads[pr], parent)
		}
	}
	start := time.Now()
	n := 0
	for p := range pushes {
		for pr := range prs {
			num := 100 + pr
			w.Repo.SetRef(fmt.Sprintf("refs/pull/%d/head", num), heads[pr][p])
			action := "synchronize"
			if p == 0 {
				action = "opened"
			}
			body := w.PullRequest(action, num, heads[pr][p], start.Add(time.Duration(p)*time.Second))
			resp := w.DeliverTo(serves[n%3].URL, "pull_request", fmt.Sprintf("d-%d-%d", pr, p), body, []byte(apptest.Secret))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("delivery %d answered %d %s", n, resp.StatusCode, resp.Status)
			}
			n++
		}
	}
	var latest []string
	for pr := range prs {
		latest = append(latest, heads[pr][pushes-1])
	}
	waitHeads(t, w, latest, 3, func() bool { return activeJobs(t, dsn) == 0 }, 4*time.Minute, logs)
	t.Logf("100 webhooks over 3 replicas: all latest heads completed %s after the first delivery", time.Since(start).Round(time.Millisecond))
	assertOnce(t, w.Fake, latest)
	// The failing heads make the same findings in prod (the same broken
	// kustomization; only a notes file differs): under the faults, each
	// must carry exactly the same annotations, none lost, none twice.
	var want []string
	for pr := range prs {
		if pr%4 != 0 {
			continue
		}
		var got []string
		for _, a := range w.RunsFor(latest[pr])["gate / prod"].Annotations {
			got = append(got, fmt.Sprintf("%s:%d:%s", a.Path, a.StartLine, a.Message))
		}
		slices.Sort(got)
		if want == nil {
			want = got
		} else if !slices.Equal(got, want) {
			t.Errorf("PR %d: gate / prod annotations %v, want the same findings as PR 100: %v", 100+pr, got, want)
		}
	}
	for pr := range prs {
		runs := w.RunsFor(latest[pr])
		prod := runs["gate / prod"]
		if pr%4 == 0 {
			if prod.Conclusion != "failure" || len(prod.Annotations) == 0 {
				t.Errorf("PR %d breaks prod: gate / prod %q with %d annotations, want failure with the finding", 100+pr, prod.Conclusion, len(prod.Annotations))
			}
		} else if prod.Conclusion == "failure" {
			t.Errorf("PR %d: gate / prod failed: %s", 100+pr, prod.Summary)
		}
	}
	// Once the repository had a plan, webhooks created check runs queued
	// (some of them hit the faults and were left to the run): the counts
	// above hold with both paths in play.
	announced, short := 0, 0
	for _, s := range serves {
		announced += strings.Count(s.Logs(), `"msg":"check runs created queued"`)
		short += strings.Count(s.Logs(), `"msg":"some check runs could not be created at webhook time; the run creates them"`)
	}
	t.Logf("webhooks that created all their check runs queued: %d; with some creates failed: %d", announced, short)
	if announced == 0 {
		t.Error("no webhook created its check runs queued")
	}
	// Every replica did some of the work.
	for i, s := range serves {
		if !strings.Contains(s.Logs(), `"msg":"run finished"`) {
			t.Errorf("replica %d finished no run", i)
		}
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
