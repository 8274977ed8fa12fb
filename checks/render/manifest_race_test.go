package render

import (
	"fmt"
	"sync"
	"testing"
)

// The base and the head of an environment often share a manifest and
// finish together: concurrent additions must all land (up to the
// manifest's size), or the next run misses a render it stored
// (TestRenderCacheAcrossRuns failed about one run in four).
func TestConcurrentManifestAdditionsAllLand(t *testing.T) {
	for round := 0; round < 20; round++ {
		c, err := OpenCache(t.TempDir(), "salt")
		if err != nil {
			t.Fatal(err)
		}
		const mkey = "m-0123456789abcdef"
		var wg sync.WaitGroup
		for i := 0; i < manifestEntries; i++ {
			wg.Go(func() {
				if err := c.addToManifest(mkey, Record{Result: fmt.Sprintf("r-%02d", i)}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got := map[string]bool{}
		for _, e := range c.loadManifest(mkey).Entries {
			got[e.Result] = true
		}
		if len(got) != manifestEntries {
			t.Fatalf("round %d: manifest holds %d of %d records added at once: %v", round, len(got), manifestEntries, got)
		}
	}
}
