package main

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/gate-ops/gate/internal/testing/enginetest"
)

// BenchmarkCheckExample is the README's "run it" command, `gate check` on
// testdata/example, in process: every environment rendered, schema and
// policy stages, the text report.
func BenchmarkCheckExample(b *testing.B) {
	for b.Loop() {
		if code := execute(context.Background(), []string{"--repo", exampleRepo, "check"}, nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

// BenchmarkCheckPullRequest is `gate check --base main` on the pair: the
// base read from git, both sides rendered for the environments the change
// reaches, diffs, every report format written.
func BenchmarkCheckPullRequest(b *testing.B) {
	p := enginetest.NewPair(b)
	dir := b.TempDir()
	args := []string{"--repo", p.Dir, "check", "--base", "main", "-o", "text",
		"-o", "json=" + dir + "/r.json", "-o", "sarif=" + dir + "/r.sarif", "-o", "junit=" + dir + "/r.xml", "-o", "markdown=" + dir + "/r.md"}
	for b.Loop() {
		if code := execute(context.Background(), args, nil, io.Discard, io.Discard); code > 1 {
			b.Fatalf("exit %d", code)
		}
	}
}

// BenchmarkOneEnvChange is make bench's one-environment pull request in
// process: `gate check --base HEAD~1` on the repo make bench generates
// (GATE_BENCH_REPO, e.g. .cache/bench/repo; skipped otherwise), whose last
// commit changes one environment. cold starts each run from an empty
// --cache-dir; warm reuses one (the renders, closures and hash index of
// the runs before). Profile with -cpuprofile.
func BenchmarkOneEnvChange(b *testing.B) {
	repo := os.Getenv("GATE_BENCH_REPO")
	if _, err := os.Stat(repo); repo == "" || err != nil {
		b.Skip("GATE_BENCH_REPO not set or missing (make bench generates .cache/bench/repo)")
	}
	check := func(b *testing.B, cache string) {
		b.Helper()
		if code := execute(context.Background(), []string{"--repo", repo, "--cache-dir", cache, "check", "--base", "HEAD~1"}, nil, io.Discard, io.Discard); code > 1 {
			b.Fatalf("exit %d", code)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			cache := b.TempDir()
			b.StartTimer()
			check(b, cache)
		}
	})
	b.Run("warm", func(b *testing.B) {
		cache := b.TempDir()
		check(b, cache)
		for b.Loop() {
			check(b, cache)
		}
	})
}
