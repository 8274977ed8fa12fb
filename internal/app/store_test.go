package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/gate-ops/gate/internal/testing/pgtest"
)

type nopWorker struct {
	river.WorkerDefaults[checkArgs]
}

func (nopWorker) Work(context.Context, *river.Job[checkArgs]) error { return nil }

// The queue's rules hold on both databases: one job per pull-request
// head, an older push delivered late is stale, a Re-run is a new job, a
// closed pull request has no latest head; reports round-trip and are
// bounded.
func TestStoreOnSQLiteAndPostgres(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			url := ""
			if db == "postgres" {
				url = pgtest.DB(t)
			}
			s, err := openStore(ctx, url, t.TempDir(), queueOptions{workers: 1, jobTimeout: time.Minute, rescueAfter: 2 * time.Minute, pollInterval: time.Second, worker: nopWorker{}, log: discard()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			a := &App{store: s, cfg: Config{JobAttempts: 3}}
			now := time.Now()
			j := func(head string, at time.Time, force bool, delivery string) *Job {
				return &Job{key: "o/r#1", Repo: "o/r", PR: 1, HeadSHA: head, EventTime: at, Force: force, Delivery: delivery}
			}
			steps := []struct {
				j    *Job
				want string
			}{
				{j("aaa", now, false, "d1"), outcomeQueued},
				{j("aaa", now, false, "d2"), outcomeDuplicate},
				{j("bbb", now.Add(time.Second), false, "d3"), outcomeQueued},
				{j("aaa", now, false, "d4"), outcomeStale}, // the older push, delivered late
				{j("bbb", time.Time{}, true, "d5"), outcomeQueued},
				{j("bbb", time.Time{}, true, "d5"), outcomeDuplicate}, // the same Re-run delivered twice
			}
			for i, st := range steps {
				got, err := a.enqueue(ctx, st.j)
				if err != nil || got != st.want {
					t.Fatalf("step %d (%s): %q, %v; want %q", i, st.j.HeadSHA, got, err, st.want)
				}
			}
			pending, _, heads, err := s.counts(ctx)
			if err != nil || pending != 3 || heads != 1 {
				t.Fatalf("%d jobs, %d heads (%v); want 3 jobs, 1 head", pending, heads, err)
			}
			if h, _, _ := s.latestHead(ctx, "o/r#1"); h != "bbb" {
				t.Fatalf("latest head %q, want bbb", h)
			}
			if err := s.closePR(ctx, "o/r#1"); err != nil {
				t.Fatal(err)
			}
			if reason := a.supersededBy(ctx, j("bbb", now, false, "")); reason == nil || !strings.Contains(reason.Error(), "closed") {
				t.Fatalf("after closing, a run of bbb is told %v, want closed", reason)
			}

			big := strings.Repeat("finding line\n", 10000)
			if err := s.putReport(ctx, "o/r/aaa/prod", big); err != nil {
				t.Fatal(err)
			}
			if got, ok, err := s.getReport(ctx, "o/r/aaa/prod"); err != nil || !ok || got != big {
				t.Fatalf("report read back %d bytes, %v, %v", len(got), ok, err)
			}
			time.Sleep(5 * time.Millisecond)
			if err := s.putReport(ctx, "o/r/bbb/prod", "newer"); err != nil {
				t.Fatal(err)
			}
			// A budget that fits only the newest report keeps only it.
			if err := s.prune(ctx, time.Hour, 100); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.getReport(ctx, "o/r/aaa/prod"); ok {
				t.Error("the oldest report outlived the byte bound")
			}
			if got, ok, _ := s.getReport(ctx, "o/r/bbb/prod"); !ok || got != "newer" {
				t.Error("the newest report was dropped")
			}
			if err := s.prune(ctx, -time.Second, 1<<30); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.getReport(ctx, "o/r/bbb/prod"); ok {
				t.Error("a report older than the age bound was kept")
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A Retry-After one replica got holds the other replica's requests for
// the same installation (not another installation's): the budget is in
// the shared database.
func TestRateLimitIsSharedAcrossReplicas(t *testing.T) {
	dsn := pgtest.DB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func() *limits {
		s, err := openStore(ctx, dsn, t.TempDir(), queueOptions{workers: 1, jobTimeout: time.Minute, rescueAfter: 2 * time.Minute, pollInterval: time.Second, worker: nopWorker{}, log: discard()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.close)
		return &limits{s: s, m: map[int64]limitEntry{}}
	}
	a, b := open(), open()
	_ = b.until(ctx, 7) // b has read the budget before a learns of the limit
	a.set(ctx, 7, time.Now().Add(1500*time.Millisecond), discard())
	time.Sleep(1100 * time.Millisecond) // b's cached read goes stale
	start := time.Now()
	if err := b.wait(ctx, 7, time.Minute); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("the other replica waited %s for installation 7, want until the Retry-After ends", d)
	}
	start = time.Now()
	if err := b.wait(ctx, 8, time.Minute); err != nil || time.Since(start) > 100*time.Millisecond {
		t.Errorf("installation 8 waited %s (%v), want no wait", time.Since(start), err)
	}
}
