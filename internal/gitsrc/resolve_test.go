package gitsrc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gate-ops/gate/internal/testing/gittest"
)

// TestResolve: the renderer keys kustomizations by the directory a path
// resolves to, so a symlink back to an ancestor is seen as a cycle.
func TestResolve(t *testing.T) {
	r := gittest.New(t)
	r.Write("deploy/env/kustomization.yaml", "resources: [loop]\n")
	if err := os.Symlink(".", filepath.Join(r.Dir, "deploy", "env", "loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside", filepath.Join(r.Dir, "deploy", "out")); err != nil {
		t.Fatal(err)
	}
	r.Write("outside/x.yaml", "a: b\n")
	r.Commit("links")
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := FromRev(repo, "HEAD", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, want string
	}{{"deploy/env/loop", "deploy/env"}, {"deploy/env/loop/loop/kustomization.yaml", "deploy/env/kustomization.yaml"}, {"deploy", "deploy"}} {
		if got, err := tree.Resolve(tt.name); err != nil || got != tt.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	sub := Sub(tree, "deploy").(interface{ Resolve(string) (string, error) })
	for _, tt := range []struct {
		name, want string
	}{{"env/loop", "env"}, {"env/loop/loop", "env"}, {".", "."}} {
		if got, err := sub.Resolve(tt.name); err != nil || got != tt.want {
			t.Errorf("Sub Resolve(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := sub.Resolve("out/x.yaml"); err == nil {
		t.Errorf("Sub Resolve followed a symlink out of the ops repo directory")
	}
}
