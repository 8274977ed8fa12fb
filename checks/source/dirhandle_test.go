package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A work tree's names are looked up from their directory's handle once
// the directory is known: the root walks a deep path component by
// component only until then (issue 20: stats of a closure and reads of a
// warm run's files went through every directory on the way each time).
func TestDirLooksUpFromDirectoryHandles(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c", "d")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := os.WriteFile(filepath.Join(deep, fmt.Sprintf("f%d.yaml", i)), []byte("x: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := OpenDir(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for round := range 2 {
		for i := range 40 {
			p := fmt.Sprintf("a/b/c/d/f%d.yaml", i)
			if _, err := d.Stat(p); err != nil {
				t.Fatal(err)
			}
			if b, err := d.ReadFile(p); err != nil || string(b) != "x: 1\n" {
				t.Fatalf("round %d: ReadFile(%s) = %q, %v", round, p, b, err)
			}
		}
		if _, err := d.ReadDir("a/b/c/d"); err != nil {
			t.Fatal(err)
		}
	}
	// a, a/b, a/b/c and a/b/c/d are each walked to once, on their first
	// sight; 80 stats, 80 reads and 2 listings are not.
	if w := d.walks.Load(); w > 4 {
		t.Errorf("%d lookups walked the root component by component, want at most 4", w)
	}
}

// An error met from a directory's handle names the path as the root's
// own lookup does, and a Dir past its handle budget answers as before.
func TestDirHandleErrorsNameTheFullPath(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a", "b", "f"), []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range maxDirRoots + 10 {
		if err := os.MkdirAll(filepath.Join(root, "many", fmt.Sprint(i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := OpenDir(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Stat("a/b/f"); err != nil {
		t.Fatal(err)
	}
	_, want := r.Stat("a/b/missing")
	if _, err := d.Stat("a/b/missing"); err == nil || err.Error() != want.Error() {
		t.Errorf("Stat(a/b/missing) = %v, want %v", err, want)
	}
	_, want = r.OpenFile("a/b/missing", os.O_RDONLY, 0)
	if _, err := d.ReadFile("a/b/missing"); err == nil || err.Error() != want.Error() {
		t.Errorf("ReadFile(a/b/missing) = %v, want %v", err, want)
	}
	for i := range maxDirRoots + 10 {
		p := fmt.Sprintf("many/%d", i)
		if _, err := d.ReadDir(p); err != nil {
			t.Fatal(err)
		}
		_, want = r.Stat(p + "/x")
		if _, err := d.Stat(p + "/x"); err == nil || err.Error() != want.Error() {
			t.Fatalf("Stat(%s/x) = %v, want %v", p, err, want)
		}
	}
}
