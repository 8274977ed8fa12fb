package main

import (
	"context"
	"io"
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
