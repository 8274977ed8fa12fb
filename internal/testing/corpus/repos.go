package corpus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Repos lists every ops repo of the test corpus, seen from a package
// directory whose repository root is repoRoot ("../.."): the testdata
// example repos, each broken repo, both sides of every hostile case, and
// the shared Flux corpus when it is present.
func Repos(t testing.TB, repoRoot string) []string {
	t.Helper()
	td := filepath.Join(repoRoot, "testdata")
	var repos []string
	for _, r := range []string{"example", "argocd", "overlay-repo", "schema/crd-repo", "flux/fleet"} {
		repos = append(repos, filepath.Join(td, r))
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
	if d := SharedDir(repoRoot, "flux2-kustomize-helm-example"); d != "" {
		repos = append(repos, d)
	}
	return repos
}

// SharedDir is ../shared/corpus/<name> next to the checkout whose root is
// repoRoot, or next to the main checkout when repoRoot is a git worktree;
// "" when absent.
func SharedDir(repoRoot, name string) string {
	abs, err := filepath.Abs(repoRoot)
	if err != nil {
		return ""
	}
	cands := []string{filepath.Join(abs, "..", "shared", "corpus", name)}
	if b, err := os.ReadFile(filepath.Join(abs, ".git")); err == nil {
		if gd, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: "); ok {
			if i := strings.Index(gd, "/.git/worktrees/"); i >= 0 {
				cands = append(cands, filepath.Join(gd[:i], "..", "shared", "corpus", name))
			}
		}
	}
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
	}
	return ""
}
