package engine_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// cacheEntries counts the files of a render cache directory.
func cacheEntries(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// TestClosuresOfChangeFollowTheWorkTree: the closures of a work tree
// stored under its base and difference (render.ClosuresOfChange) are read
// back only while the work tree stays as it was, and are always the
// closures computed on it: an edit, an empty directory, a symlink where a
// copy of its target was, or a dangling one (which the list of changed
// files does not show), or a file too big to read each get their own.
func TestClosuresOfChangeFollowTheWorkTree(t *testing.T) {
	r := gittest.New(t)
	k := func(refs ...string) string {
		out := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
		for _, ref := range refs {
			out += "- " + ref + "\n"
		}
		return out
	}
	r.Write("envs/a/kustomization.yaml", k("cm.yaml"))
	r.Write("envs/a/cm.yaml", "kind: ConfigMap\n")
	r.Write("lib/x/kustomization.yaml", k("cm.yaml"))
	r.Write("lib/x/cm.yaml", "kind: ConfigMap\n")
	r.Write("lib/y/kustomization.yaml", k("cm.yaml"))
	r.Write("lib/y/cm.yaml", "kind: ConfigMap\n")
	base := r.Commit("base")
	repo, err := gitsrc.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := gitsrc.FromRev(repo, base, 0)
	if err != nil {
		t.Fatal(err)
	}
	envs := []checks.Env{{Name: "a", Path: "envs/a", Kind: render.KindKustomize}}
	cacheDir := t.TempDir()
	cache, err := render.OpenCache(cacheDir, "test")
	if err != nil {
		t.Fatal(err)
	}
	// run is one incremental run's head closures: a fresh work tree
	// source, its changed files, a fresh renderer over the shared cache;
	// they must be the closures computed on the work tree alone.
	run := func(step string, wantWritten int) *render.Closure {
		t.Helper()
		head, err := source.OpenDir(r.Dir, 1024)
		if err != nil {
			t.Fatal(err)
		}
		defer head.Close()
		if _, err := engine.ChangedFiles(bt, head); err != nil {
			t.Fatal(err)
		}
		before := cacheEntries(t, cacheDir)
		got := render.New(render.Options{Cache: cache}).ClosuresOfChange(bt, head, envs)[0]
		if added := cacheEntries(t, cacheDir) - before; added != wantWritten {
			t.Errorf("%s: %d cache entries written, want %d", step, added, wantWritten)
		}
		fresh, err := source.OpenDir(r.Dir, 1024)
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		want := render.New(render.Options{}).Closures(fresh, envs)[0]
		if !reflect.DeepEqual([][]string{got.Dirs, got.Files, got.Named}, [][]string{want.Dirs, want.Files, want.Named}) || got.Whole != want.Whole {
			t.Errorf("%s: closure %q %q %q, computed on the work tree %q %q %q", step, got.Dirs, got.Files, got.Named, want.Dirs, want.Files, want.Named)
		}
		return got
	}
	r.Write("envs/a/kustomization.yaml", k("cm.yaml", "../../lib/x"))
	run("edit", 1)
	if c := run("same work tree", 0); len(c.Dirs) != 2 {
		t.Errorf("closure dirs %q, want envs/a and lib/x", c.Dirs)
	}
	r.Write("envs/a/kustomization.yaml", k("cm.yaml", "../../lib/y"))
	run("another edit", 1)
	r.Write("envs/a/kustomization.yaml", k("cm.yaml", "../../lib/x"))
	run("the first edit again", 0)
	if err := os.MkdirAll(filepath.Join(r.Dir, "envs/a/empty/deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	run("an empty directory", 0) // not plain: neither read nor stored
	if err := os.RemoveAll(filepath.Join(r.Dir, "envs/a/empty")); err != nil {
		t.Fatal(err)
	}
	// A copy of lib/y/cm.yaml, then a symlink to it: the same difference
	// (same path, same content), another closure (the link's target).
	r.Write("envs/a/link.yaml", "kind: ConfigMap\n")
	run("a copy", 1)
	os.Remove(filepath.Join(r.Dir, "envs/a/link.yaml"))
	if err := os.Symlink("../../lib/y/cm.yaml", filepath.Join(r.Dir, "envs/a/link.yaml")); err != nil {
		t.Fatal(err)
	}
	run("a symlink with the copy's content", 0)
	os.Remove(filepath.Join(r.Dir, "envs/a/link.yaml"))
	if err := os.Symlink("../../lib/z", filepath.Join(r.Dir, "envs/a/dangling")); err != nil {
		t.Fatal(err)
	}
	run("a dangling symlink", 0)
	os.Remove(filepath.Join(r.Dir, "envs/a/dangling"))
	run("back to the first edit", 0)
	// A file over the size limit is unreadable in the work tree and
	// missing at the base: no difference shows, but the closure names it.
	r.Write("envs/a/kustomization.yaml", k("cm.yaml", "../../lib/x", "../../lib/big.yaml"))
	run("names a missing file", 1)
	r.Write("lib/big.yaml", strings.Repeat("# big\n", 400))
	if c := run("the named file, too big to read", 0); !reflect.DeepEqual(c.Files, []string{"lib/big.yaml"}) {
		t.Errorf("closure files %q, want lib/big.yaml", c.Files)
	}
}

// TestChangedFilesOneSidedUnreadable: a path the work tree adds is
// changed even when it cannot be read there (a dangling symlink, a file
// over the size limit): the base cannot hash it either, and an
// environment reading it would read something else than at the base.
func TestChangedFilesOneSidedUnreadable(t *testing.T) {
	r := gittest.New(t)
	r.Write("envs/a/kustomization.yaml", "resources:\n- cm.yaml\n")
	r.Write("envs/a/cm.yaml", "kind: ConfigMap\n")
	base := r.Commit("base")
	repo, err := gitsrc.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := gitsrc.FromRev(repo, base, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../nowhere.yaml", filepath.Join(r.Dir, "envs/a/dangling.yaml")); err != nil {
		t.Fatal(err)
	}
	r.Write("envs/a/big.yaml", strings.Repeat("# big\n", 100))
	head, err := source.OpenDir(r.Dir, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer head.Close()
	got, err := engine.ChangedFiles(bt, head)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"envs/a/big.yaml", "envs/a/dangling.yaml"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changed %q, want %q", got, want)
	}
}
