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
	r, d := rootAndDir(t, root)
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

// A Stat costs one lookup: the Lstat that resolves the name's last
// component is its Stat when that is no symlink, found or missing, and
// answers as os.Root's own Stat.
func TestDirStatIsOneLookup(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := os.WriteFile(filepath.Join(root, "a", "b", fmt.Sprint(i)), []byte("z"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, d := rootAndDir(t, root)
	if _, err := d.ReadDir("a/b"); err != nil {
		t.Fatal(err)
	}
	before := d.lookups.Load()
	for i := range 20 {
		for _, p := range []string{fmt.Sprintf("a/b/%d", i), fmt.Sprintf("a/b/missing%d", i)} {
			got, gerr := d.Stat(p)
			want, werr := r.Stat(p)
			if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
				t.Fatalf("Stat(%s) error %v, os.Root's %v", p, gerr, werr)
			}
			if gerr == nil && (got.Name() != want.Name() || got.Size() != want.Size() || got.Mode() != want.Mode() || !got.ModTime().Equal(want.ModTime())) {
				t.Fatalf("Stat(%s) = %v, os.Root's %v", p, got, want)
			}
		}
	}
	if n := d.lookups.Load() - before; n != 40 {
		t.Errorf("40 stats made %d lookups, want 40", n)
	}
}

// rootAndDir opens root both as os.Root, whose answers are the reference,
// and as the Dir under test; both close with the test.
func rootAndDir(t *testing.T, root string) (*os.Root, *Dir) {
	t.Helper()
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	d, err := OpenDir(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return r, d
}
