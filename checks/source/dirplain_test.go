package source

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDirPlain: a work tree is plain once every directory has been
// listed and only regular files and directories with a file beneath
// were seen; Diff answers only then, and only for the base it was told.
func TestDirPlain(t *testing.T) {
	walked := func(root string) *Dir {
		t.Helper()
		d, err := OpenDir(root, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if d.Plain() {
			t.Errorf("%s: plain before any listing", root)
		}
		if err := fs.WalkDir(d, ".", func(string, fs.DirEntry, error) error { return nil }); err != nil {
			t.Fatal(err)
		}
		return d
	}
	write := func(root, rel string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree := func() string {
		root := t.TempDir()
		write(root, "a/b/c.yaml")
		write(root, "a/d.yaml")
		write(root, "e.yaml")
		write(root, ".git/HEAD") // hidden
		return root
	}
	root := tree()
	d := walked(root)
	if !d.Plain() {
		t.Error("a walked tree of files is not plain")
	}
	if _, ok := d.Diff("tree-1"); ok {
		t.Error("a difference known before it was told")
	}
	d.NoteDiff("tree-1", "\"a/d.yaml\" h\n")
	if st, ok := d.Diff("tree-1"); !ok || st != "\"a/d.yaml\" h\n" {
		t.Errorf("Diff = %q, %v", st, ok)
	}
	if _, ok := d.Diff("tree-2"); ok {
		t.Error("a difference against another base")
	}
	// Listed in part: not plain.
	part, err := OpenDir(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	part.ReadDir(".")
	part.ReadDir("a")
	if part.Plain() {
		t.Error("plain with a/b never listed")
	}
	part.NoteDiff("tree-1", "")
	if _, ok := part.Diff("tree-1"); ok {
		t.Error("a difference answered for a tree not known plain")
	}
	for name, spoil := range map[string]func(root string) error{
		"empty directory":  func(root string) error { return os.MkdirAll(filepath.Join(root, "a/empty/deeper"), 0o755) },
		"symlink":          func(root string) error { return os.Symlink("e.yaml", filepath.Join(root, "a/link.yaml")) },
		"dangling symlink": func(root string) error { return os.Symlink("nowhere", filepath.Join(root, "link")) },
		"named pipe":       func(root string) error { return syscall.Mkfifo(filepath.Join(root, "a/b/pipe"), 0o644) },
	} {
		root := tree()
		if err := spoil(root); err != nil {
			t.Fatal(err)
		}
		if walked(root).Plain() {
			t.Errorf("a tree with a %s is plain", name)
		}
	}
}

// TestDirHandlesForManyDirectories: with a file limit that allows it, a
// tree of 400 directories keeps a handle for each, so a name in any of
// them is one lookup from its directory (at 256 handles, the last 144
// walked from the root); the budget is a quarter of the file limit,
// between 256 and 1,024.
func TestDirHandlesForManyDirectories(t *testing.T) {
	for nofile, want := range map[uint64]int64{100: 256, 2048: 512, 20000: 1024, 1 << 20: 1024} {
		if got := budgetFor(nofile); got != want {
			t.Errorf("budgetFor(%d) = %d, want %d", nofile, got, want)
		}
	}
	if dirRootBudget() < 400 {
		t.Skipf("file limit too low for 400 handles (budget %d)", dirRootBudget())
	}
	root := t.TempDir()
	for i := range 400 {
		if err := os.MkdirAll(filepath.Join(root, "d", fmt.Sprint(i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d, err := OpenDir(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := range 400 {
		if _, err := d.ReadDir(fmt.Sprintf("d/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	before := d.walks.Load()
	for i := range 400 {
		d.Stat(fmt.Sprintf("d/%d/x", i))
	}
	if w := d.walks.Load() - before; w > 0 {
		t.Errorf("%d of 400 stats walked from the root", w)
	}
}
