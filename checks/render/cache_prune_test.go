package render

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPruneRenderCache: past its bound the render cache loses its oldest
// entries first, down to 80% of the bound; under it nothing is removed.
func TestPruneRenderCache(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i := 0; i < 10; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%02x", i), fmt.Sprintf("entry%d.json", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		// entry0 is the oldest.
		if err := os.Chtimes(p, now, now.Add(time.Duration(i-10)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "00", ".tmp-123"), bytes.Repeat([]byte("x"), 5000), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, size, err := PruneCache(dir, 10000); err != nil || n != 0 || size != 10000 {
		t.Fatalf("at the bound: removed %d, %d bytes left, %v; want nothing removed", n, size, err)
	}
	n, size, err := PruneCache(dir, 5000)
	if err != nil || n != 6 || size != 4000 {
		t.Fatalf("over the bound: removed %d, %d bytes left, %v; want 6 removed, 4000 left", n, size, err)
	}
	for i := 0; i < 10; i++ {
		_, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%02x", i), fmt.Sprintf("entry%d.json", i)))
		if gone := os.IsNotExist(err); gone != (i < 6) {
			t.Errorf("entry%d removed: %v, want %v (oldest first)", i, gone, i < 6)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "00", ".tmp-123")); err != nil {
		t.Errorf("an entry being written was removed: %v", err)
	}
}
