package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/corpus"
)

// TestClosureUntouchedRendersTheSameCorpus is the property the change
// selection rests on now that no base is rendered for it: over the whole
// corpus, for each environment and each of a sample of mutations (a file
// edited, deleted, a file added next to it), when the closures alone
// (affectedEnvs with no render cache) call the environment untouched, its
// confined render at the head equals its render at the base byte for
// byte, and its closure at the head is the base's (affectedEnvs computes
// the head's only where the base's is reached). Touched verdicts are counted, so both answers are exercised.
func TestClosureUntouchedRendersTheSameCorpus(t *testing.T) {
	corpus.Wide(t)
	untouched, touched := 0, 0
	for _, dir := range corpus.Repos(t, "../..") {
		name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			files, ok := memOf(t, dir)
			if !ok {
				t.Skip("not a repo for this test")
			}
			base := source.NewMem("base", files)
			cfg, _, err := config.Load(base, "")
			if err != nil {
				return
			}
			envs, _ := render.Discover(base, cfg)
			if len(envs) == 0 {
				return
			}
			ctx := context.Background()
			opts := render.Options{Timeout: 30 * time.Second}
			want := map[string]string{}
			for _, e := range envs {
				want[e.Name] = renderBytes(render.New(opts).Render(ctx, base, e))
			}
			req := &Request{Config: cfg, Render: opts}
			for _, m := range mutationsOf(files, globalFiles(req)) {
				headFiles := map[string]string{}
				for k, v := range files {
					headFiles[k] = v
				}
				m.apply(headFiles)
				head := source.NewMem("head", headFiles)
				req.Base, req.Head = base, head
				out := affectedEnvs(ctx, req, envs, m.changed)
				for i, e := range envs {
					if _, ok := out[e.Name]; ok {
						touched++
						continue
					}
					untouched++
					r := render.New(opts)
					if b, h := r.Closures(base, envs[i:i+1])[0], r.Closures(head, envs[i:i+1])[0]; b.Digest() != h.Digest() {
						t.Errorf("%s: env %s called untouched, but its closure differs at the head: %+v vs %+v", m.name, e.Name, b, h)
					}
					checkSameRender(t, fmt.Sprintf("%s: env %s called untouched by its closure", m.name, e.Name), renderBytes(render.New(opts).Render(ctx, head, e)), want[e.Name])
				}
			}
		})
	}
	t.Logf("%d untouched verdicts verified by rendering, %d touched", untouched, touched)
	if untouched < 300 || touched < 300 {
		t.Errorf("only %d untouched and %d touched verdicts", untouched, touched)
	}
}
