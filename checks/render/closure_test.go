package render

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
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
	if testing.Short() {
		t.Skip("renders the whole corpus")
	}
	checked, whole, envsSeen := 0, 0, 0
	for _, dir := range probeCorpus(t) {
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
