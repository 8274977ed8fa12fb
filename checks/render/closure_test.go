package render

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/corpus"
)

// closureAllows is the confinement's test of one probe: the path, and
// where it leads through symlinks.
func closureAllows(src source.Source, c *Closure, p source.Probe) bool {
	if !c.Allows(p.Op, p.Path) {
		return false
	}
	if res, ok := src.(interface{ Resolve(string) (string, error) }); ok {
		if to, err := res.Resolve(p.Path); err == nil && to != p.Path && !c.Allows(p.Op, to) {
			return false
		}
	}
	return true
}

// TestClosureCoversProbesCorpus: over every repo of testdata, the hostile
// corpus and the shared corpus, every probe an environment's render makes
// (reads, stats, listings, misses, symlink resolutions; one environment
// at a time and all together) lies in that environment's closure: the
// confinement never refuses an honest render.
func TestClosureCoversProbesCorpus(t *testing.T) {
	corpus.Wide(t)
	checked, whole, envsSeen := 0, 0, 0
	for _, dir := range corpus.Repos(t, "../..") {
		name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			d, err := source.OpenDir(dir, 0)
			if err != nil {
				t.Skipf("not a repo: %v", err)
			}
			defer d.Close()
			cfg, _, err := config.Load(d, "")
			if err != nil {
				return
			}
			envs, _ := Discover(d, cfg)
			r := New(Options{NoShare: true})
			cls := r.Closures(d, envs)
			for i, e := range envs {
				envsSeen++
				if cls[i].Whole != "" {
					whole++
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res := r.Render(ctx, d, e)
				cancel()
				for _, p := range res.Probes {
					checked++
					if !closureAllows(d, cls[i], p) {
						t.Errorf("env %s: the render probed %s %s, outside its closure %+v", e.Name, p.Op, p.Path, cls[i])
					}
				}
			}
		})
	}
	if checked < 1000 {
		t.Errorf("only %d probes checked", checked)
	}
	t.Logf("%d probes of %d environments checked; %d closures are the whole repo", checked, envsSeen, whole)
}

// TestSharingAndConfinementRenderTheSameCorpus renders every repo of the
// corpora (the testdata repos with a gate.yaml, the hostile corpus, the
// shared corpus) three ways and fails on any difference a user could see:
// as gate renders (confined to each environment's closure, sharing
// subtrees), with Options.NoShare (each environment alone), and alone
// with no confinement. The first pair proves the shared-subtree memo
// (memo.go) changes nothing; the second, that the confinement refuses
// nothing an honest (or hostile corpus) render reads.
func TestSharingAndConfinementRenderTheSameCorpus(t *testing.T) {
	corpus.Wide(t)
	seen := map[string]bool{}
	var repos []string
	for _, d := range append(testdataRepos(t), corpus.Repos(t, "../..")...) {
		if a, err := filepath.Abs(d); err == nil && !seen[a] {
			seen[a] = true
			repos = append(repos, d)
		}
	}
	if len(repos) < 20 {
		t.Fatalf("found %d repos", len(repos))
	}
	for _, dir := range repos {
		t.Run(dir, func(t *testing.T) {
			src, err := source.OpenDir(dir, 0)
			if err != nil {
				t.Skipf("not a repo: %v", err)
			}
			defer src.Close()
			cfg, _, err := config.Load(src, "")
			if err != nil {
				t.Skipf("gate.yaml does not load (a test of that): %v", err)
			}
			envs, _ := Discover(src, cfg)
			ctx := context.Background()
			opts := Options{Timeout: caseTimeout(t, dir)}
			shared := New(opts).RenderAll(ctx, src, envs)
			opts.NoShare = true
			alone := New(opts).RenderAll(ctx, src, envs)
			free := New(opts)
			free.unconfined = true
			t.Run("shared-vs-alone", func(t *testing.T) { sameRenders(t, shared, alone) })
			t.Run("confined-vs-free", func(t *testing.T) { sameRenders(t, alone, free.RenderAll(ctx, src, envs)) })
		})
	}
}

// TestClosuresCachedByTree: the closures of a tree a content ID names are
// stored with the cache and read back without asking the tree anything,
// equal to the computed ones; another ID computes its own.
func TestClosuresCachedByTree(t *testing.T) {
	dir, cfg := openExample(t)
	envs, _ := Discover(dir, cfg)
	cache, err := OpenCache(t.TempDir(), "test")
	if err != nil {
		t.Fatal(err)
	}
	want := New(Options{}).Closures(dir, envs)
	for i, id := range []string{"tree-a", "tree-a", "tree-b"} {
		n := &atomic.Int64{}
		got := New(Options{Cache: cache}).Closures(askedSource{Dir: dir, id: id, asked: n}, envs)
		for j := range envs {
			if got[j].Digest() != want[j].Digest() || got[j].Touches(envs[j].Path+"/x") != want[j].Touches(envs[j].Path+"/x") {
				t.Errorf("run %d: closure of %s differs from the computed one", i, envs[j].Name)
			}
		}
		if asked := n.Load(); (i == 1) != (asked == 0) {
			t.Errorf("run %d (%s): asked the tree %d questions", i, id, asked)
		}
	}
}
