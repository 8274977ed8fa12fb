package app

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestQueueSupersedesAndOrders(t *testing.T) {
	q := newQueue(100, newMetrics())
	t0 := time.Unix(1700000000, 0)
	j := func(pr int, sha string, at time.Duration, force bool) *job {
		return &job{key: jobKey("o/r", pr), PR: pr, HeadSHA: sha, EventTime: t0.Add(at), Force: force}
	}
	steps := []struct {
		j    *job
		want string
	}{
		{j(1, "a", 1*time.Second, false), outcomeQueued},
		{j(1, "a", 1*time.Second, false), outcomeDuplicate}, // redelivery
		{j(1, "b", 2*time.Second, false), outcomeQueued},    // replaces a while waiting
		{j(1, "a", 1*time.Second, false), outcomeStale},     // late delivery of an older push
		{j(2, "c", 1*time.Second, false), outcomeQueued},
	}
	for i, s := range steps {
		if got := q.submit(s.j); got != s.want {
			t.Fatalf("step %d: submit %s = %s, want %s", i, s.j.HeadSHA, got, s.want)
		}
	}
	got, ctx := q.next(context.Background())
	if got.HeadSHA != "b" {
		t.Fatalf("first job is %s, want b (a was superseded while waiting)", got.HeadSHA)
	}
	// A newer push cancels the running job with a reason.
	if out := q.submit(j(1, "d", 3*time.Second, false)); out != outcomeQueued {
		t.Fatalf("submit d = %s", out)
	}
	var sup *supersededError
	if !errors.As(context.Cause(ctx), &sup) || sup.by != "d" {
		t.Fatalf("running job cause = %v, want superseded by d", context.Cause(ctx))
	}
	// PR 1 is busy until finished: the next job is PR 2's.
	if n, _ := q.next(context.Background()); n.HeadSHA != "c" {
		t.Fatalf("next = %s, want c (PR 1 still running)", n.HeadSHA)
	}
	q.finish(got, false)
	if n, _ := q.next(context.Background()); n.HeadSHA != "d" {
		t.Fatalf("next = %s, want d", n.HeadSHA)
	}
	// A checked head is not checked again unless forced (Re-run).
	q.finish(&job{key: jobKey("o/r", 3), HeadSHA: "e"}, true)
	if out := q.submit(&job{key: jobKey("o/r", 3), HeadSHA: "e"}); out != outcomeDuplicate {
		t.Fatalf("resubmit of a checked head = %s, want duplicate", out)
	}
	if out := q.submit(&job{key: jobKey("o/r", 3), HeadSHA: "e", Force: true}); out != outcomeQueued {
		t.Fatalf("forced resubmit = %s, want queued", out)
	}
}

func TestQueueIsBounded(t *testing.T) {
	q := newQueue(2, newMetrics())
	for i, want := range []string{outcomeQueued, outcomeQueued, outcomeFull} {
		if got := q.submit(&job{key: jobKey("o/r", i), HeadSHA: "x"}); got != want {
			t.Fatalf("submit %d = %s, want %s", i, got, want)
		}
	}
}

func TestReportStoreIsBoundedByBytes(t *testing.T) {
	s := newReportStore(100)
	s.put("a", string(make([]byte, 60)))
	s.put("b", string(make([]byte, 30)))
	s.put("c", string(make([]byte, 30)))
	if _, ok := s.get("a"); ok {
		t.Error("the oldest report was kept over the budget")
	}
	for _, k := range []string{"b", "c"} {
		if _, ok := s.get(k); !ok {
			t.Errorf("report %s dropped within the budget", k)
		}
	}
	if s.size != 60 {
		t.Errorf("size %d, want 60", s.size)
	}
}

func TestExternalIDRoundTrip(t *testing.T) {
	j := &job{Repo: "gate-ops/shop-ops", PR: 12, BaseRef: "release/1.2"}
	repo, pr, base, ok := parseExternalID(j.externalID())
	if !ok || repo != j.Repo || pr != 12 || base != "release/1.2" {
		t.Errorf("round trip of %q: %q %d %q %v", j.externalID(), repo, pr, base, ok)
	}
	for _, bad := range []string{"", "gate-ops/shop-ops#12", "gate-ops/shop-ops#@main", "gate-ops/shop-ops#x@main", "gate-ops/shop-ops#-3@main", "#3@main", "gate-ops/shop-ops#3@"} {
		if _, _, _, ok := parseExternalID(bad); ok {
			t.Errorf("parseExternalID(%q) accepted it", bad)
		}
	}
}
