package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
)

// TestRenderCacheAcrossRuns: with --cache-dir a second run of the same pull
// request renders nothing (every env loads from the cache and the report is
// the same), and an edit to the head re-renders only that side of that env.
func TestRenderCacheAcrossRuns(t *testing.T) {
	patch := strings.Replace(readExample(t, "overlays/prod/deployment-prod.yaml"), "replicas: 3", "replicas: 4", 1)
	r, base := prRepo(t, "", map[string]string{"overlays/prod/deployment-prod.yaml": patch})
	cache := t.TempDir()
	hits := regexp.MustCompile(`render cache hit.*env=(\w+)`)
	runOnce := func() (map[string]int, checks.Report) {
		t.Helper()
		out, stderr, code := runGate(t, "--repo", r.Dir, "--cache-dir", cache, "-v", "check", "--base", base, "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		got := map[string]int{}
		for _, m := range hits.FindAllStringSubmatch(stderr, -1) {
			got[m[1]]++
		}
		var rep checks.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		return got, rep
	}
	first, rep1 := runOnce()
	if len(first) != 0 {
		t.Errorf("first run hit an empty cache: %v", first)
	}
	if entries, _ := os.ReadDir(cache); len(entries) == 0 {
		t.Fatal("cache directory is empty after a run")
	}
	second, rep2 := runOnce()
	if second["prod"] != 2 || len(second) != 1 {
		t.Errorf("second run cache hits %v, want prod twice (base and head) and no other env rendered", second)
	}
	if a, b := summarize(rep1), summarize(rep2); a != b {
		t.Errorf("cached run reports differently:\n%s\nvs\n%s", a, b)
	}

	r.Write("overlays/prod/deployment-prod.yaml", strings.Replace(patch, "replicas: 4", "replicas: 6", 1))
	third, rep3 := runOnce()
	if third["prod"] != 1 {
		t.Errorf("after editing the head, cache hits %v, want prod once (the base only)", third)
	}
	if s := summarize(rep3); !strings.Contains(s, "spec.replicas 3→6") {
		t.Errorf("edited head not re-rendered: %s", s)
	}
}

// summarize is the part of a report a cache must not change.
func summarize(rep checks.Report) string {
	var b strings.Builder
	for _, er := range rep.Envs {
		b.WriteString(er.Env.Name + " " + er.Status)
		for _, f := range er.Findings {
			b.WriteString(" | " + f.String())
		}
		if er.Diff != nil {
			for _, c := range er.Diff.Changes {
				b.WriteString(" | " + c.ID.String())
				for _, fc := range c.Fields {
					b.WriteString(" " + fc.Path + " " + fc.Old + "→" + fc.New)
				}
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
