package render

import (
	"encoding/json"
	"io/fs"
	"os"
	"sync/atomic"
	"testing"

	"github.com/go-git/go-git/v5"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
)

// countingSource counts the lookups a closure computation asks of a
// source (Stat, ReadDir, ReadFile, Resolve).
type countingSource struct {
	source.Source
	stats, lists, reads, resolves atomic.Int64
}

func (c *countingSource) Stat(name string) (fs.FileInfo, error) {
	c.stats.Add(1)
	return c.Source.Stat(name)
}

func (c *countingSource) ReadDir(name string) ([]fs.DirEntry, error) {
	c.lists.Add(1)
	return c.Source.ReadDir(name)
}

func (c *countingSource) ReadFile(name string) ([]byte, error) {
	c.reads.Add(1)
	return c.Source.ReadFile(name)
}

func (c *countingSource) Resolve(name string) (string, error) {
	c.resolves.Add(1)
	return c.Source.(interface{ Resolve(string) (string, error) }).Resolve(name)
}

func (c *countingSource) report(b *testing.B, n int) {
	b.ReportMetric(float64(c.stats.Load())/float64(n), "stats/op")
	b.ReportMetric(float64(c.lists.Load())/float64(n), "lists/op")
	b.ReportMetric(float64(c.reads.Load())/float64(n), "reads/op")
	b.ReportMetric(float64(c.resolves.Load())/float64(n), "resolves/op")
}

// BenchmarkClosuresBenchRepo computes closures on the repo make bench
// generates (GATE_BENCH_REPO; skipped otherwise) as a cold `gate check
// --base HEAD~1` does: every environment's closure on the base commit's
// tree (base-tree), and the changed environment's on the work tree
// (worktree-one: GATE_BENCH_ENV, default prod-01). Each iteration starts
// from a fresh tree and index, so nothing is memoised across them.
func BenchmarkClosuresBenchRepo(b *testing.B) {
	d, envs, repo := benchRepo(b)
	b.Run("base-tree", func(b *testing.B) {
		b.ReportAllocs()
		cs := &countingSource{}
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			t, err := gitsrc.FromRev(repo, "HEAD~1", 0)
			if err != nil {
				b.Fatal(err)
			}
			cs.Source = t
			b.StartTimer()
			New(Options{}).Closures(cs, envs)
		}
		cs.report(b, b.N)
	})
	name := os.Getenv("GATE_BENCH_ENV")
	if name == "" {
		name = "prod-01"
	}
	var one []checks.Env
	for _, e := range envs {
		if e.Name == name {
			one = append(one, e)
		}
	}
	if len(one) == 0 {
		b.Fatalf("no environment %s", name)
	}
	b.Run("worktree-one", func(b *testing.B) {
		b.ReportAllocs()
		cs := &countingSource{}
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			w, err := source.OpenDir(d.Root(), 0)
			if err != nil {
				b.Fatal(err)
			}
			cs.Source = w
			b.StartTimer()
			New(Options{}).Closures(cs, one)
			b.StopTimer()
			w.Close()
			b.StartTimer()
		}
		cs.report(b, b.N)
	})
}

// TestClosureMatchesReferenceBenchRepo: on the repo make bench generates
// (GATE_BENCH_REPO; skipped otherwise), every environment's closure at
// HEAD~1's tree and at the work tree equals the naive fixpoint's.
func TestClosureMatchesReferenceBenchRepo(t *testing.T) {
	d, envs, repo := benchRepo(t)
	tree, err := gitsrc.FromRev(repo, "HEAD~1", 0)
	if err != nil {
		t.Fatal(err)
	}
	closuresMatchReference(t, "HEAD~1", tree, envs)
	closuresMatchReference(t, "work tree", d, envs)
}

// BenchmarkLoadClosuresBenchRepo reads back the stored closures of the
// bench repo's 50 environments (GATE_BENCH_REPO), as a warm run does:
// decodeClosures, and json.Unmarshal for comparison.
func BenchmarkLoadClosuresBenchRepo(b *testing.B) {
	d, envs, _ := benchRepo(b)
	cache, err := OpenCache(b.TempDir(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	if err := cache.storeClosures("c-bench", New(Options{}).Closures(d, envs)); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(cache.path("c-bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := cache.loadClosures("c-bench", envs); !ok {
				b.Fatal("not read back")
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e closuresEntry
			if err := json.Unmarshal(raw, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchRepo opens the repo make bench generates (GATE_BENCH_REPO; skips
// when unset): its work tree, environments and git repository.
func benchRepo(tb testing.TB) (*source.Dir, []checks.Env, *git.Repository) {
	tb.Helper()
	dir := os.Getenv("GATE_BENCH_REPO")
	if dir == "" {
		tb.Skip("GATE_BENCH_REPO not set")
	}
	d, err := source.OpenDir(dir, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	cfg, _, err := config.Load(d, "")
	if err != nil {
		tb.Fatal(err)
	}
	envs, _ := Discover(d, cfg)
	repo, err := gitsrc.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return d, envs, repo
}
