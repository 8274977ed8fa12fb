package render

import (
	"path/filepath"
	"testing"
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
