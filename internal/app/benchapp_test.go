package app_test

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gate-ops/gate/internal/testing/apptest"
	"github.com/gate-ops/gate/internal/testing/pgtest"
)

// TestBenchApp is `make bench-app` (never part of make test: it runs only
// with GATE_BENCH_APP=1): GATE_BENCH_WEBHOOKS pull_request webhooks
// (default 1000) over GATE_BENCH_PRS pull requests (default 200), 5 pushes
// each, delivered as fast as the replicas answer, on 1 and on 3 `gate
// serve` replicas sharing one Postgres. It reports, per head that got check
// runs, the time from its webhook to all of them completed (p50, p99), the
// wall time until every latest head completed, and the throughput ratio.
func TestBenchApp(t *testing.T) {
	if os.Getenv("GATE_BENCH_APP") == "" {
		t.Skip("benchmark: make bench-app")
	}
	webhooks, prs := envInt("GATE_BENCH_WEBHOOKS", 1000), envInt("GATE_BENCH_PRS", 200)
	pushes := webhooks / prs
	pg := pgtest.StartTB(t)
	type result struct {
		replicas      int
		p50, p99, all time.Duration
		heads         int
	}
	var results []result
	for _, n := range []int{1, 3} {
		dsn := must(pg.CreateDB(t.Context(), fmt.Sprintf("bench%d", n)))
		w := apptest.New(t, apptest.Options{Example: example, NoApp: true})
		var serves []*apptest.Serve
		for range n {
			serves = append(serves, w.StartServe(t, apptest.ServeOptions{DatabaseURL: dsn, Args: fastServe}))
		}
		heads := make([][]string, prs)
		for pr := range prs {
			parent := w.Repo.Main
			for p := range pushes {
				files := map[string][]byte{fmt.Sprintf("notes/pr-%d.txt", pr): []byte(fmt.Sprintf("push %d\n", p))}
				if p == pushes-1 && pr%2 == 0 {
					files = replicas(w, 4+pr%5)
				}
				parent = w.Repo.Commit(parent, files, fmt.Sprintf("pr %d push %d", pr, p))
				heads[pr] = append(heads[pr], parent)
			}
		}
		sent := map[string]time.Time{}
		start := time.Now()
		k := 0
		for p := range pushes {
			for pr := range prs {
				w.Repo.SetRef(fmt.Sprintf("refs/pull/%d/head", 1000+pr), heads[pr][p])
				action := "synchronize"
				if p == 0 {
					action = "opened"
				}
				body := w.PullRequest(action, 1000+pr, heads[pr][p], start.Add(time.Duration(p)*time.Second))
				sent[heads[pr][p]] = time.Now()
				if resp := w.DeliverTo(serves[k%n].URL, "pull_request", fmt.Sprintf("b-%d-%d", pr, p), body, []byte(apptest.Secret)); resp.StatusCode != http.StatusOK {
					t.Fatalf("delivery answered %d", resp.StatusCode)
				}
				k++
			}
		}
		var latest []string
		for pr := range prs {
			latest = append(latest, heads[pr][pushes-1])
		}
		waitHeads(t, w, latest, 3, func() bool { return activeJobs(t, dsn) == 0 }, 30*time.Minute, func() string { return serves[0].Logs()[max(0, len(serves[0].Logs())-3000):] })
		all := time.Since(start)
		done := map[string]time.Time{}
		count := map[string]int{}
		for _, cr := range w.Fake.CheckRuns() {
			count[cr.HeadSHA]++
			if cr.DoneAt.After(done[cr.HeadSHA]) {
				done[cr.HeadSHA] = cr.DoneAt
			}
		}
		var lat []time.Duration
		for h, at := range sent {
			if count[h] == 3 {
				lat = append(lat, done[h].Sub(at))
			}
		}
		slices.Sort(lat)
		r := result{replicas: n, all: all, heads: len(lat), p50: lat[len(lat)/2], p99: lat[min(len(lat)-1, len(lat)*99/100)]}
		results = append(results, r)
		for _, s := range serves {
			s.Kill()
		}
	}
	fmt.Printf("\n%d webhooks over %d pull requests (%d pushes each), %d CPUs\n\n", webhooks, prs, pushes, numCPU())
	fmt.Println("| replicas | heads with check runs | webhook → all check runs completed p50 | p99 | all latest heads done | webhooks/s |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %d | %d | %s | %s | %s | %.1f |\n", r.replicas, r.heads, r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.all.Round(time.Millisecond), float64(webhooks)/r.all.Seconds())
	}
	fmt.Printf("\nthroughput ratio 3 replicas / 1 replica: %.2f\n", results[0].all.Seconds()/results[1].all.Seconds())
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func numCPU() int { return runtime.NumCPU() }
