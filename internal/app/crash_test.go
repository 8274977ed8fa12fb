package app_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/internal/testing/apptest"
	"github.com/gate-ops/gate/internal/testing/githubfake"
	"github.com/gate-ops/gate/internal/testing/pgtest"

	_ "modernc.org/sqlite"
)

// slowStart holds the first check-run updates (the in_progress ones) so a
// run is caught in the middle.
func slowStart(w *apptest.World, d time.Duration, first int) {
	w.Fake.SetFaults(func(op string, n int) *githubfake.Fault {
		if op == "checks/update" && n <= first {
			return &githubfake.Fault{Delay: d}
		}
		return nil
	})
}

// runningOn waits until one of serves logs that it started a run.
func runningOn(t *testing.T, serves []*apptest.Serve, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, s := range serves {
			if strings.Contains(s.Logs(), `"msg":"run started"`) {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no replica started the run")
	return -1
}

// TestKilledReplicaRunIsCompletedByAnother: a replica is SIGKILLed (an
// OOM kill) in the middle of a run; River's rescuer hands the job to the
// other replica, which completes the check runs once each.
func TestKilledReplicaRunIsCompletedByAnother(t *testing.T) {
	t.Parallel() // mostly waiting (rescue, outage, processes): overlap with the others
	if testing.Short() {
		t.Skip("starts Postgres and two gate serve processes")
	}
	pg := pgtest.StartTB(t)
	dsn := must(pg.CreateDB(t.Context(), t.Name()))
	w := apptest.New(t, apptest.Options{Example: example, NoApp: true})
	args := append(append([]string(nil), fastServe...), "--run-timeout", "10s", "--publish-timeout", "5s", "--rescue-after", "21s")
	serves := []*apptest.Serve{
		w.StartServe(t, apptest.ServeOptions{DatabaseURL: dsn, Args: args}),
		w.StartServe(t, apptest.ServeOptions{DatabaseURL: dsn, Args: args}),
	}
	slowStart(w, 3*time.Second, 3)
	files, _ := remoteBase(w)
	head := w.Repo.Commit(w.Repo.Main, files, "break prod")
	w.Repo.SetRef("refs/pull/40/head", head)
	if resp := w.DeliverTo(serves[0].URL, "pull_request", "kill-1", w.PullRequest("opened", 40, head, time.Now()), []byte(apptest.Secret)); resp.StatusCode != http.StatusOK {
		t.Fatalf("delivery answered %d", resp.StatusCode)
	}
	victim := runningOn(t, serves, time.Minute)
	serves[victim].Kill()
	killed := time.Now()
	other := serves[1-victim]
	waitHeads(t, w, []string{head}, 3, func() bool { return activeJobs(t, dsn) == 0 }, 2*time.Minute,
		func() string { return other.Logs() })
	t.Logf("the surviving replica completed the killed run's check runs %s after the kill", time.Since(killed).Round(time.Millisecond))
	assertOnce(t, w.Fake, []string{head})
	if c := w.RunsFor(head)["gate / prod"].Conclusion; c != "failure" {
		t.Errorf("gate / prod concluded %q, want failure", c)
	}
}

// TestSQLiteRestartCompletesTheRun: the only, SQLite-backed replica is
// killed mid-run and started again on the same cache directory and port:
// the interrupted job runs again at once, its check runs complete, and
// Details links written before the restart still answer.
func TestSQLiteRestartCompletesTheRun(t *testing.T) {
	t.Parallel() // mostly waiting (rescue, outage, processes): overlap with the others
	if testing.Short() {
		t.Skip("starts gate serve processes")
	}
	w := apptest.New(t, apptest.Options{Example: example, NoApp: true})
	cache := t.TempDir()
	s := w.StartServe(t, apptest.ServeOptions{CacheDir: cache, Args: fastServe})
	port := s.URL[strings.LastIndexByte(s.URL, ':')+1:]
	// A first pull request completes; its Details must survive.
	first := w.Repo.Commit(w.Repo.Main, nil, "first")
	w.Repo.SetRef("refs/pull/50/head", first)
	w.DeliverTo(s.URL, "pull_request", "r-1", w.PullRequest("opened", 50, first, time.Now()), []byte(apptest.Secret))
	waitHeads(t, w, []string{first}, 3, func() bool { return true }, 2*time.Minute, s.Logs)

	slowStart(w, 3*time.Second, w.Fake.Count("checks/update")+3)
	files, _ := remoteBase(w)
	head := w.Repo.Commit(w.Repo.Main, files, "break prod")
	w.Repo.SetRef("refs/pull/51/head", head)
	w.DeliverTo(s.URL, "pull_request", "r-2", w.PullRequest("opened", 51, head, time.Now()), []byte(apptest.Secret))
	deadline := time.Now().Add(time.Minute)
	for strings.Count(s.Logs(), `"msg":"run started"`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the second run never started:\n%s", s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Kill()
	// The kill may also come after a run published its verdict but before
	// River's asynchronous completer recorded the job done: the job is
	// still "running" in the file and runs again (attempt 2) after the
	// restart. Make that happen for sure to the first pull request: its
	// second attempt must see the check runs completed and publish none.
	lostCompletion(t, filepath.Join(cache, "gate.db"))
	var portN int
	fmt.Sscanf(port, "%d", &portN)
	s2 := w.StartServe(t, apptest.ServeOptions{CacheDir: cache, Port: portN, Args: fastServe})
	waitHeads(t, w, []string{head}, 3, func() bool { return true }, 2*time.Minute, s2.Logs)
	deadline = time.Now().Add(2 * time.Minute)
	firstRanAgain := func() bool {
		for _, l := range strings.Split(s2.Logs(), "\n") {
			if strings.Contains(l, `"pr":50`) && (strings.Contains(l, "already published") || strings.Contains(l, `"msg":"run finished"`)) {
				return true
			}
		}
		return false
	}
	for !firstRanAgain() {
		if time.Now().After(deadline) {
			t.Fatalf("the first pull request's job did not run again after the restart:\n%s", s2.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	assertOnce(t, w.Fake, []string{first, head})
	for _, h := range []string{first, head} {
		for name, cr := range w.RunsFor(h) {
			resp, err := http.Get(cr.DetailsURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("after the restart, Details of %s on %s answers %d", name, h[:8], resp.StatusCode)
			}
		}
	}
}

// lostCompletion marks the SQLite queue's completed jobs running again, as
// if the process died before River wrote them completed.
func lostCompletion(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec("UPDATE river_job SET state = 'running', finalized_at = NULL WHERE state = 'completed'")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// The kill came before River's completer wrote any job done (a
		// loaded machine): the first job is still "running" in the file,
		// which is the case this makes happen.
		var running int
		if err := db.QueryRow("SELECT count(*) FROM river_job WHERE state = 'running'").Scan(&running); err != nil {
			t.Fatal(err)
		}
		if running < 2 {
			t.Fatalf("no completed job to mark running, and %d running", running)
		}
	}
}

// TestSIGTERMHandsTheRunBack: the only, SQLite-backed replica gets SIGTERM
// (a deploy) in the middle of a run and is started again on the same cache
// directory and port. The interrupted run is handed back, not completed:
// after the restart every environment has exactly one check run, none
// cancelled, and the failing environment's annotation is on the line.
func TestSIGTERMHandsTheRunBack(t *testing.T) {
	t.Parallel() // mostly waiting (processes): overlap with the others
	if testing.Short() {
		t.Skip("starts gate serve processes")
	}
	w := apptest.New(t, apptest.Options{Example: example, NoApp: true})
	cache := t.TempDir()
	s := w.StartServe(t, apptest.ServeOptions{CacheDir: cache, Args: fastServe})
	port := s.URL[strings.LastIndexByte(s.URL, ':')+1:]
	// The in_progress updates take long enough that the shutdown grace
	// (2s in fastServe) runs out in the middle of the run.
	slowStart(w, 3*time.Second, 3)
	files, line := remoteBase(w)
	head := w.Repo.Commit(w.Repo.Main, files, "break prod")
	w.Repo.SetRef("refs/pull/52/head", head)
	w.DeliverTo(s.URL, "pull_request", "t-1", w.PullRequest("opened", 52, head, time.Now()), []byte(apptest.Secret))
	runningOn(t, []*apptest.Serve{s}, 2*time.Minute)
	if err := s.Stop(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, cr := range w.RunsFor(head) {
		// Untouched environments are created completed neutral at once.
		if cr.Status == "completed" && (name == "gate / prod" || cr.Conclusion != "neutral") {
			t.Errorf("after SIGTERM, %s is completed %s; want it left open for the restart (handed back)", name, cr.Conclusion)
		}
	}
	w.Fake.SetFaults(nil)
	var portN int
	fmt.Sscanf(port, "%d", &portN)
	s2 := w.StartServe(t, apptest.ServeOptions{CacheDir: cache, Port: portN, Args: fastServe})
	waitHeads(t, w, []string{head}, 3, func() bool { return true }, 3*time.Minute, s2.Logs)
	assertOnce(t, w.Fake, []string{head})
	for _, cr := range w.Fake.CheckRuns() {
		if cr.Conclusion == "cancelled" {
			t.Errorf("check run %d %q was completed cancelled", cr.ID, cr.Name)
		}
	}
	prod := w.RunsFor(head)["gate / prod"]
	if prod.Conclusion != "failure" {
		t.Errorf("gate / prod concluded %q, want failure", prod.Conclusion)
	}
	found := false
	for _, a := range prod.Annotations {
		if a.Path == "overlays/prod/kustomization.yaml" && a.StartLine == line {
			found = true
		}
	}
	if !found {
		t.Errorf("gate / prod has no annotation on overlays/prod/kustomization.yaml:%d: %+v", line, prod.Annotations)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
