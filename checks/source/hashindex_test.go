//go:build linux

package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// hashTree writes n files of the same size under a fresh directory.
func hashTree(t *testing.T, n int) (string, []string) {
	t.Helper()
	root := t.TempDir()
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("apps/a%d/f%02d.yaml", i%3, i)
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("replicas: %02d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return root, names
}

// indexedDir opens root with the index at ixPath; later shifts the index's
// clock, as if the run came that long after the files were written.
func indexedDir(t *testing.T, root, ixPath string, later time.Duration) *Dir {
	t.Helper()
	d, err := OpenDir(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	x := OpenHashIndex(ixPath)
	x.now = func() time.Time { return time.Now().Add(later) }
	d.UseHashIndex(x)
	return d
}

// hashAll returns FileHash of every name and how many files it read.
func hashAll(t *testing.T, d *Dir, names []string) (map[string]string, int64) {
	t.Helper()
	before := d.hashReads.Load()
	out := map[string]string{}
	for _, n := range names {
		h, err := FileHash(d, n)
		if err != nil {
			t.Fatalf("FileHash %s: %v", n, err)
		}
		b, _ := os.ReadFile(filepath.Join(d.Root(), n))
		if h != BlobHash(b) {
			t.Fatalf("FileHash %s = %s, the content's hash is %s", n, h, BlobHash(b))
		}
		out[n] = h
	}
	return out, d.hashReads.Load() - before
}

func TestHashIndexReadsOnlyWhatChanged(t *testing.T) {
	root, names := hashTree(t, 12)
	ix := filepath.Join(t.TempDir(), "w", "index.json")
	d := indexedDir(t, root, ix, time.Minute)
	if _, reads := hashAll(t, d, names); reads != int64(len(names)) {
		t.Fatalf("first run read %d files, want all %d", reads, len(names))
	}
	if err := d.SaveHashIndex(); err != nil {
		t.Fatal(err)
	}

	// A later run trusts every unchanged file's stat.
	d2 := indexedDir(t, root, ix, time.Minute)
	if _, reads := hashAll(t, d2, names); reads != 0 {
		t.Fatalf("second run read %d files, want none", reads)
	}

	// Same size, new content, modification time put back: the change
	// time still tells.
	p := filepath.Join(root, names[4])
	fi, _ := os.Stat(p)
	if err := os.WriteFile(p, []byte("replicas: 99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	d3 := indexedDir(t, root, ix, time.Minute)
	got, reads := hashAll(t, d3, names)
	if reads != 1 {
		t.Fatalf("after one same-size edit the run read %d files, want 1", reads)
	}
	if got[names[4]] != BlobHash([]byte("replicas: 99\n")) {
		t.Fatalf("edited file hashed as its old content")
	}
}

// A file hashed within racySlack of its last write is read again next
// time: on a file system with coarse timestamps a second write in the same
// tick would leave its stat unchanged.
func TestHashIndexDoesNotTrustRacyEntries(t *testing.T) {
	root, names := hashTree(t, 5)
	ix := filepath.Join(t.TempDir(), "index.json")
	d := indexedDir(t, root, ix, 0) // hashed right after the files were written
	hashAll(t, d, names)
	if err := d.SaveHashIndex(); err != nil {
		t.Fatal(err)
	}
	d2 := indexedDir(t, root, ix, time.Minute)
	if _, reads := hashAll(t, d2, names); reads != int64(len(names)) {
		t.Fatalf("entries hashed right after a write were trusted: %d of %d files read", reads, len(names))
	}
	if err := d2.SaveHashIndex(); err != nil {
		t.Fatal(err)
	}
	d3 := indexedDir(t, root, ix, time.Minute)
	if _, reads := hashAll(t, d3, names); reads != 0 {
		t.Fatalf("settled entries read again: %d", reads)
	}
}

// Errors are ReadFile's, index or not; a bad index file is ignored whole.
func TestHashIndexKeepsErrorsAndRefusesBadFiles(t *testing.T) {
	root, names := hashTree(t, 3)
	if err := os.WriteFile(filepath.Join(root, "big.yaml"), make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "out.yaml")); err != nil {
		t.Fatal(err)
	}
	plain, err := OpenDir(root, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	ix := filepath.Join(t.TempDir(), "index.json")
	indexed, err := OpenDir(root, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer indexed.Close()
	indexed.UseHashIndex(OpenHashIndex(ix))
	for _, n := range []string{"big.yaml", "out.yaml", "missing.yaml", "apps", "../x.yaml"} {
		_, want := plainHash(plain, n)
		_, got := FileHash(indexed, n)
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("%s: error %v with the index, %v without", n, got, want)
		}
	}
	var le *LimitError
	if _, err := FileHash(indexed, "big.yaml"); !errors.As(err, &le) {
		t.Errorf("over the size limit: %v, want a LimitError", err)
	}

	// An entry whose stat matches but whose hash is no hash refuses the file.
	fi, err := os.Stat(filepath.Join(root, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := statOf(fi)
	bad, _ := json.Marshal(map[string]any{"format": hashIndexFormat, "entries": map[string]hashEntry{
		names[0]: {Stat: st, Hash: "../../etc/passwd", HashedAt: time.Now().Add(time.Hour).UnixNano()},
	}})
	for name, content := range map[string]string{
		"garbage":  "{not json",
		"foreign":  `{"format":"other/1","entries":{}}`,
		"bad hash": string(bad),
	} {
		if err := os.WriteFile(ix, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		d := indexedDir(t, root, ix, time.Minute)
		if _, reads := hashAll(t, d, names); reads != int64(len(names)) {
			t.Errorf("%s index: %d of %d files read", name, reads, len(names))
		}
	}
}

func plainHash(d *Dir, name string) (string, error) {
	b, err := d.ReadFile(name)
	if err != nil {
		return "", err
	}
	return BlobHash(b), nil
}
