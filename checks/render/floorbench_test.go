package render

import (
	"context"
	"os"
	"testing"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// BenchmarkRenderBenchRepo renders the repo make bench generates (set
// GATE_BENCH_REPO to its directory; skipped otherwise) as render --all
// does, on one core.
func BenchmarkRenderBenchRepo(b *testing.B) {
	dir := os.Getenv("GATE_BENCH_REPO")
	if dir == "" {
		b.Skip("GATE_BENCH_REPO not set")
	}
	src, err := source.OpenDir(dir, 0)
	if err != nil {
		b.Fatal(err)
	}
	cfg, _, err := config.Load(src, "")
	if err != nil {
		b.Fatal(err)
	}
	envs, _ := Discover(src, cfg)
	r := New(Options{Parallelism: 1})
	b.ReportAllocs()
	for b.Loop() {
		for _, res := range r.RenderAll(context.Background(), src, envs) {
			if len(res.Findings) > 0 {
				b.Fatal(res.Findings)
			}
		}
	}
}
