package render

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// PruneLoop keeps the render cache under max bytes for as long as the
// server runs: a long-lived App sees every revision of every repo, and
// the cache would otherwise fill its volume.
func PruneLoop(ctx context.Context, dir string, max int64, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, size, err := PruneCache(dir, max)
		if err != nil {
			log.Warn("render cache prune", "dir", dir, "err", err)
		} else if n > 0 {
			log.Info("render cache pruned", "removed", n, "bytes", size)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PruneCache removes the oldest render-cache entries (by modification
// time) until the entries take at most 80% of max bytes, once they exceed
// max. A removed entry is only a cache miss. It returns how many entries
// were removed and the bytes left.
func PruneCache(dir string, max int64) (int, int64, error) {
	type entry struct {
		path string
		size int64
		mod  time.Time
	}
	var all []entry
	var total int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		all = append(all, entry{p, info.Size(), info.ModTime()})
		total += info.Size()
		return nil
	})
	if err != nil || total <= max {
		return 0, total, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod.Before(all[j].mod) })
	n := 0
	for _, e := range all {
		if total <= max/10*8 {
			break
		}
		if err := os.Remove(e.path); err != nil && !os.IsNotExist(err) {
			return n, total, fmt.Errorf("prune render cache: %w", err)
		}
		total -= e.size
		n++
	}
	return n, total, nil
}
