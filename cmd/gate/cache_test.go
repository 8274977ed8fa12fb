package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

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

// TestWorkTreeHashIndexAcrossRuns: --cache-dir also keeps the work tree's
// file hashes by stat (source.HashIndex). An edit that keeps the file's
// size and puts its modification time back is still seen (the change time
// moved): here it reverts the pull request's only change, so no env is
// touched any more, where a stale hash would still call prod touched.
func TestWorkTreeHashIndexAcrossRuns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the hash index reads Linux's stat")
	}
	const file = "overlays/prod/deployment-prod.yaml"
	patch := strings.Replace(readExample(t, file), "replicas: 3", "replicas: 4", 1)
	r, base := prRepo(t, "", map[string]string{file: patch})
	cache := t.TempDir()
	runOnce := func() checks.Report {
		t.Helper()
		out, stderr, code := runGate(t, "--repo", r.Dir, "--cache-dir", cache, "check", "--base", base, "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		var rep checks.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	runOnce()
	// Hashes taken right after a write are not trusted (racy); a run
	// past that settles them.
	time.Sleep(2100 * time.Millisecond)
	runOnce()
	idx, _ := filepath.Glob(filepath.Join(cache, "w-", "w-*.json"))
	if len(idx) != 1 {
		t.Fatalf("hash index files %v, want one", idx)
	}
	var saved struct {
		Entries map[string]struct {
			Stat struct {
				M int64 `json:"m"`
				C int64 `json:"c"`
			} `json:"s"`
			T int64 `json:"t"`
		} `json:"entries"`
	}
	b, err := os.ReadFile(idx[0])
	if err != nil || json.Unmarshal(b, &saved) != nil {
		t.Fatalf("read the index: %v", err)
	}
	e, ok := saved.Entries[file]
	if !ok || e.T-int64(2*time.Second) <= max(e.Stat.M, e.Stat.C) {
		t.Fatalf("the index does not vouch for %s (entry %+v): the edit below would prove nothing", file, e)
	}

	p := filepath.Join(r.Dir, file)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	r.Write(file, readExample(t, file))
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	for _, er := range runOnce().Envs {
		if er.Status != checks.EnvUntouched {
			t.Errorf("after reverting the change (same size, modification time put back) env %s is %s, want untouched (because %v)", er.Env.Name, er.Status, er.Because)
		}
	}
}
