package gitsrc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// TestSubRefusesLinksOutOfTheOpsDirectory: in a monorepo the ops repo is
// one directory; a link from it to the rest of the repository is refused
// like a link out of the repository.
func TestSubRefusesLinksOutOfTheOpsDirectory(t *testing.T) {
	r := gittest.New(t)
	r.Write("secrets/prod.env", "PASSWORD=hunter2\n")
	r.Write("deploy/base/a.yaml", "a: 1\n")
	for target, link := range map[string]string{"../secrets/prod.env": "deploy/leak.yaml", "base/a.yaml": "deploy/ok.yaml", "../secrets": "deploy/secrets"} {
		if err := os.Symlink(target, filepath.Join(r.Dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	r.Commit("monorepo")
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := FromRev(repo, "HEAD", 0)
	if err != nil {
		t.Fatal(err)
	}
	ops := Sub(tree, "deploy")
	if b, err := ops.ReadFile("ok.yaml"); err != nil || string(b) != "a: 1\n" {
		t.Errorf("ok.yaml = %q, %v", b, err)
	}
	for _, name := range []string{"leak.yaml", "secrets/prod.env", "../secrets/prod.env"} {
		if b, err := ops.ReadFile(name); !source.IsEscape(err) {
			t.Errorf("ReadFile(%s) = %q, %v; want an escape error", name, b, err)
		}
	}
	paths := ops.(interface{ Paths() []string }).Paths()
	if len(paths) != 4 || paths[0] != "base/a.yaml" {
		t.Errorf("Paths = %v, want the ops directory's files only", paths)
	}
}

// TestSpecReopens: a tree reopened from its Spec (what the render sandbox
// does in a worker process) reads the same content, for a commit, the index
// and a subdirectory.
func TestSpecReopens(t *testing.T) {
	r := gittest.New(t)
	r.Write("deploy/a.yaml", "a: 1\n")
	r.Commit("one")
	r.Write("deploy/a.yaml", "a: 2\n")
	r.Git("add", "deploy/a.yaml")
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := FromRev(repo, "HEAD", 0)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := FromIndex(repo, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		src  source.Source
		want string
	}{{Sub(head, "deploy"), "a: 1\n"}, {Sub(idx, "deploy"), "a: 2\n"}} {
		spec, ok := tc.src.(source.Reopener).Spec()
		if !ok || spec.Prefix != "deploy" {
			t.Fatalf("Spec = %+v, %v", spec, ok)
		}
		tree, err := OpenSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := Sub(tree, spec.Prefix).ReadFile("a.yaml"); err != nil || string(b) != tc.want {
			t.Errorf("%s reopened: a.yaml = %q, %v; want %q", spec.Kind, b, err, tc.want)
		}
	}
}
