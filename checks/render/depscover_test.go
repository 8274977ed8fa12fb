package render

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// corpusRepos lists every repo in testdata: the example repos, each broken
// repo and both sides of every hostile case.
func corpusRepos(t *testing.T) []string {
	t.Helper()
	td := filepath.Join("..", "..", "testdata")
	repos := []string{"example", "argocd", "overlay-repo", "schema/crd-repo", "flux/fleet"}
	for i, r := range repos {
		repos[i] = filepath.Join(td, r)
	}
	for _, glob := range []string{"broken/*", "hostile/*/repo", "hostile/*/base"} {
		m, err := filepath.Glob(filepath.Join(td, glob))
		if err != nil {
			t.Fatal(err)
		}
		repos = append(repos, m...)
	}
	if len(repos) < 150 {
		t.Fatalf("found %d repos under %s, want the whole corpus", len(repos), td)
	}
	return repos
}

// TestDepsCoverReadsCorpus: over every repo of testdata and the hostile
// corpus, every file an environment's render actually read (kustomize's
// filesystem reads, chart and values files) is in the dependency set the
// change selection uses for it. A file outside it is a change gate would
// call "untouched, not rendered" although it changes the render.
func TestDepsCoverReadsCorpus(t *testing.T) {
	corpusWide(t)
	checked := 0
	for _, dir := range corpusRepos(t) {
		name, _ := filepath.Rel(filepath.Join("..", "..", "testdata"), dir)
		t.Run(name, func(t *testing.T) {
			src, err := source.OpenDir(dir, 0)
			if err != nil {
				t.Skipf("not a repo: %v", err)
			}
			defer src.Close()
			cfg, _, err := config.Load(src, "")
			if err != nil {
				return // the config is the finding; nothing renders
			}
			envs, _ := Discover(src, cfg)
			r := New(Options{})
			deps := r.DepsAll(src, envs)
			for i, e := range envs {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				res := r.Render(ctx, src, e)
				cancel()
				for _, f := range res.Files {
					checked++
					if !deps[i].Touches(f) {
						t.Errorf("env %s read %s, which is not in its dependencies %+v", e.Name, f, deps[i])
					}
				}
			}
		})
	}
	if checked < 400 {
		t.Errorf("only %d reads checked", checked)
	}
	t.Logf("%d reads checked", checked)
}
