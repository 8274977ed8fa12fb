package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
)

// TestIsolateGivesTheSameReport: rendering in worker processes changes
// nothing a user sees, for the work tree and for a pull request read from
// git (the workers reopen the commits).
func TestIsolateGivesTheSameReport(t *testing.T) {
	patch := strings.Replace(readExample(t, "overlays/prod/deployment-prod.yaml"), "replicas: 3", "replicas: 4", 1)
	r, base := prRepo(t, "deploy", map[string]string{"overlays/prod/deployment-prod.yaml": patch})
	for _, args := range [][]string{
		{"--repo", exampleRepo, "check", "-o", "json"},
		{"--repo", r.Dir + "/deploy", "check", "--base", base, "--head", "HEAD", "-o", "json"},
	} {
		var reps [2]checks.Report
		for i, extra := range [][]string{nil, {"--isolate", "-v"}} {
			out, stderr, code := runGate(t, append(extra, args...)...)
			if code != 0 {
				t.Fatalf("%v %v: exit %d\n%s", extra, args, code, stderr)
			}
			if i == 1 && !strings.Contains(stderr, "render worker done") {
				t.Errorf("--isolate: no render worker ran:\n%s", stderr)
			}
			if err := json.Unmarshal([]byte(out), &reps[i]); err != nil {
				t.Fatal(err)
			}
		}
		if a, b := summarize(reps[0]), summarize(reps[1]); a != b {
			t.Errorf("%v: isolated report differs:\n%s\nvs\n%s", args, a, b)
		}
		if !strings.Contains(summarize(reps[0]), "prod") {
			t.Errorf("report lacks prod: %s", summarize(reps[0]))
		}
	}
}
