package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gate-ops/gate/internal/testing/apptest"
)

// BenchmarkPullRequestPush measures one push to a pull request end to end:
// the signed webhook, the incremental fetch over git http-backend, the
// engine (only the touched environment), and the check runs through the
// validating fake GitHub. Run with: go test -run '^$' -bench PullRequestPush ./internal/app
func BenchmarkPullRequestPush(b *testing.B) {
	w := apptest.New(b, apptest.Options{Example: example, Runner: engineRunner(), Workers: 2})
	d := string(w.Repo.Read("overlays/prod/deployment-prod.yaml"))
	parent := w.Repo.Main
	heads := make([]string, b.N)
	for i := range heads {
		parent = w.Repo.Commit(parent, map[string][]byte{"overlays/prod/deployment-prod.yaml": []byte(fmt.Sprintf("%s# push %d\n", d, i))}, fmt.Sprintf("push %d", i))
		heads[i] = parent
	}
	start := time.Now()
	b.ResetTimer()
	for i, head := range heads {
		b.StopTimer()
		w.Repo.SetRef("refs/pull/1/head", head)
		action := "synchronize"
		if i == 0 {
			action = "opened"
		}
		body := w.PullRequest(action, 1, head, start.Add(time.Duration(i)*time.Second))
		b.StartTimer()
		w.Deliver("pull_request", body, []byte(apptest.Secret))
		w.WaitIdle(time.Minute)
	}
	b.StopTimer()
	if n := len(w.RunsFor(heads[len(heads)-1])); n != 3 {
		b.Fatalf("the last push got %d check runs, want 3", n)
	}
}
