package gitsrc

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

func TestCommitTreeRendersLikeWorktree(t *testing.T) {
	r := gittest.New(t)
	r.CopyTree("../../testdata/example")
	r.Commit("example")
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := FromRev(repo, "HEAD", 0)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := source.OpenDir(r.Dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []source.Source{tree, dir} {
		cfg, _, err := config.Load(src, "")
		if err != nil {
			t.Fatal(err)
		}
		envs, _ := render.Discover(src, cfg)
		if len(envs) != 3 {
			t.Fatalf("%s: %d envs", src.Rev(), len(envs))
		}
	}
	cfg, _, _ := config.Load(tree, "")
	envs, _ := render.Discover(tree, cfg)
	rr := render.New(render.Options{})
	a := rr.RenderAll(context.Background(), tree, envs)
	b := rr.RenderAll(context.Background(), dir, envs)
	for i := range a {
		if len(a[i].Findings) > 0 || len(b[i].Findings) > 0 {
			t.Fatalf("%s: findings %v %v", envs[i].Name, a[i].Findings, b[i].Findings)
		}
		if len(a[i].Resources) != len(b[i].Resources) || len(a[i].Resources) == 0 {
			t.Fatalf("%s: git %d vs worktree %d resources", envs[i].Name, len(a[i].Resources), len(b[i].Resources))
		}
		for j := range a[i].Resources {
			if string(a[i].Resources[j].YAML) != string(b[i].Resources[j].YAML) || a[i].Resources[j].Origin != b[i].Resources[j].Origin {
				t.Errorf("%s: resource %d differs between git tree and work tree", envs[i].Name, j)
			}
		}
		if strings.Join(a[i].Files, ",") != strings.Join(b[i].Files, ",") {
			t.Errorf("%s: files read differ:\n%v\n%v", envs[i].Name, a[i].Files, b[i].Files)
		}
	}
}

func TestSymlinks(t *testing.T) {
	r := gittest.New(t)
	r.Write("app/real.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
	must(t, os.Symlink("real.yaml", filepath.Join(r.Dir, "app/inside.yaml")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(r.Dir, "app/passwd.yaml")))
	must(t, os.Symlink("../../outside", filepath.Join(r.Dir, "app/up.yaml")))
	must(t, os.Symlink("../.git/config", filepath.Join(r.Dir, "app/gitconfig")))
	must(t, os.Symlink("loop2", filepath.Join(r.Dir, "app/loop1")))
	must(t, os.Symlink("loop1", filepath.Join(r.Dir, "app/loop2")))
	r.Commit("links")
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := FromRev(repo, "main", 0)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := source.OpenDir(r.Dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []source.Source{tree, dir} {
		t.Run(src.Rev(), func(t *testing.T) {
			b, err := src.ReadFile("app/inside.yaml")
			if err != nil || !strings.Contains(string(b), "ConfigMap") {
				t.Errorf("symlink inside the repo: %v %q", err, b)
			}
			for _, p := range []string{"app/passwd.yaml", "app/up.yaml", "app/gitconfig", ".git/config", "../etc/passwd", "/etc/passwd"} {
				b, err := src.ReadFile(p)
				if err == nil {
					t.Errorf("%s: read %d bytes, want refusal", p, len(b))
					continue
				}
				if !source.IsEscape(err) && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: %v, want an escape error", p, err)
				}
				if strings.Contains(err.Error(), "root:") {
					t.Errorf("%s: error leaks file content: %v", p, err)
				}
			}
			if _, err := src.ReadFile("app/loop1"); err == nil {
				t.Error("symlink loop read")
			}
		})
	}
}

func TestIndexIsStagedContent(t *testing.T) {
	r := gittest.New(t)
	r.Write("a.yaml", "v: committed\n")
	r.Commit("one")
	r.Write("a.yaml", "v: staged\n")
	r.Git("add", "a.yaml")
	r.Write("a.yaml", "v: worktree\n")
	r.Write("b.yaml", "v: untracked\n")
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := FromIndex(repo, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := idx.ReadFile("a.yaml")
	if err != nil || string(b) != "v: staged\n" {
		t.Errorf("index a.yaml = %q, %v", b, err)
	}
	if _, err := idx.ReadFile("b.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("untracked file visible in index: %v", err)
	}
}

func TestMergeBase(t *testing.T) {
	r := gittest.New(t)
	r.Write("a", "1")
	base := r.Commit("base")
	r.Git("checkout", "-q", "-b", "feature")
	r.Write("a", "2")
	r.Commit("feature")
	r.Git("checkout", "-q", "main")
	r.Write("b", "3")
	r.Commit("main moves on")
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := MergeBase(repo, "main", "feature")
	if err != nil {
		t.Fatal(err)
	}
	if mb.Hash.String() != base {
		t.Errorf("merge-base %s, want %s", mb.Hash, base)
	}
	if _, err := ResolveCommit(repo, "no-such-branch"); err == nil || !strings.Contains(err.Error(), "no-such-branch") {
		t.Errorf("unknown revision: %v", err)
	}
}

func TestSizeLimit(t *testing.T) {
	r := gittest.New(t)
	r.Write("big.yaml", strings.Repeat("a", 2048))
	r.Commit("big")
	repo, _ := Open(r.Dir)
	tree, err := FromRev(repo, "HEAD", 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tree.ReadFile("big.yaml")
	var le *source.LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "--max-file-size") {
		t.Errorf("got %v, want a limit error naming the flag", err)
	}
	// Stat reads the size from the object header: the same limit, the same
	// error, and the size of a file under the limit.
	tree2, err := FromRev(repo, "HEAD", 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tree2.Stat("big.yaml")
	if !errors.As(err, &le) || le.Size != 2048 || !strings.Contains(err.Error(), "--max-file-size") {
		t.Errorf("Stat: got %v, want a limit error for 2048 bytes", err)
	}
	r.Write("small.yaml", "abc\n")
	r.Commit("small")
	tree3, err := FromRev(repo, "HEAD", 1024)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := tree3.Stat("small.yaml"); err != nil || fi.Size() != 4 || fi.IsDir() {
		t.Errorf("Stat(small.yaml) = %v, %v; want 4 bytes", fi, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
