package cachefile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Readers racing with writers see one whole version or another, and no
// temporary file is left once the writers are done.
func TestWriteIsAllOrNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	p := filepath.Join(dir, "entry.json")
	versions := make([][]byte, 8)
	for i := range versions {
		versions[i] = bytes.Repeat([]byte(fmt.Sprintf("%d", i)), 64<<10)
	}
	if err := Write(p, versions[0]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range versions {
		wg.Go(func() {
			for range 20 {
				if err := Write(p, versions[i]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Error(err)
				return
			}
			if len(b) != 64<<10 || !bytes.Equal(b, bytes.Repeat(b[:1], len(b))) {
				t.Errorf("read a mixed or partial file (%d bytes)", len(b))
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	rg.Wait()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("directory holds %d files after the writes, want only the entry", len(ents))
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("cache directory mode %v: readable by others", fi.Mode().Perm())
	}
}

// A write that cannot be renamed into place (a directory is there) fails
// and leaves no temporary file.
func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "entry")
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "x"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("data")); err == nil {
		t.Fatal("writing over a non-empty directory succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("%d files left in the directory, want the directory alone", len(ents))
	}
}
