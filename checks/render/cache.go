package render

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/cachefile"
	"github.com/gate-ops/gate/checks/source"
)

// cacheFormat versions the cache entries; bump when Result changes shape.
const cacheFormat = "gate-render-cache/3"

// Cache stores renders on disk, found by what the render probed (see
// probecache.go) and the environment's definition. The base
// side of a pull request, and any environment a change does not touch, is
// then loaded instead of rendered. Entries hold rendered manifests, so the
// directory is created private (0700).
type Cache struct {
	dir string
	// salt separates builds of gate whose output may differ.
	salt string
	// answers memoises source.Answer per source and probe for one run:
	// fifty environments share most of their probes.
	answers sync.Map // answerKey -> string
	// manifestMu serialises manifest updates (addToManifest).
	manifestMu sync.Mutex
}

// OpenCache opens (creating) a cache directory. salt should identify the
// gate build (its version), so an upgrade never reads an older render.
func OpenCache(dir, salt string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open render cache %s: %w", dir, err)
	}
	return &Cache{dir: dir, salt: salt}, nil
}

type cacheEntry struct {
	Format    string           `json:"format"`
	Env       checks.Env       `json:"env"`
	Resources []cachedResource `json:"resources"`
	Findings  []checks.Finding `json:"findings"`
	Files     []string         `json:"files"`
	Probes    []source.Probe   `json:"probes,omitempty"`
}

type cachedResource struct {
	Resource *checks.Resource `json:"resource"`
	YAML     string           `json:"yaml"`
	Loc      *locInfo         `json:"loc,omitempty"`
}

// contentIDer is implemented by sources a short string identifies whole
// (a git commit's tree): same ID, same files.
type contentIDer interface {
	ContentID() string
}

func (c *Cache) path(key string) string {
	return filepath.Join(c.dir, key[:2], key+".json")
}

func (c *Cache) load(key string, src source.Source, lim Limits) (*Result, bool) {
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return nil, false
	}
	var e cacheEntry
	if err := json.Unmarshal(b, &e); err != nil || e.Format != cacheFormat {
		return nil, false
	}
	res := resultOf(&e, src, lim)
	res.Cached = true
	return res, true
}

// resultOf rebuilds a Result from its encoded form.
func resultOf(e *cacheEntry, src source.Source, lim Limits) *Result {
	res := newResult(e.Env, src, lim)
	res.Findings, res.Files, res.Probes = e.Findings, e.Files, e.Probes
	for _, cr := range e.Resources {
		r := cr.Resource
		r.Object = fixNumbers(r.Object).(map[string]any)
		r.YAML = []byte(cr.YAML)
		if cr.Loc != nil {
			res.loc[r] = cr.Loc
		}
		res.Resources = append(res.Resources, r)
	}
	return res
}

// entryOf is the encoded form of a Result.
func entryOf(res *Result) cacheEntry {
	e := cacheEntry{Format: cacheFormat, Env: res.Env, Findings: res.Findings, Files: res.Files, Probes: res.Probes}
	for _, r := range res.Resources {
		e.Resources = append(e.Resources, cachedResource{Resource: r, YAML: string(r.YAML), Loc: res.loc[r]})
	}
	return e
}

func (c *Cache) store(key string, res *Result) error {
	b, err := json.Marshal(entryOf(res))
	if err != nil {
		return fmt.Errorf("encode render cache entry: %w", err)
	}
	return c.write(key, b)
}

// write stores an entry atomically (cachefile.Write), so concurrent runs
// sharing the directory never read half an entry.
func (c *Cache) write(key string, b []byte) error {
	return cachefile.Write(c.path(key), b)
}

// fixNumbers turns JSON's float64 back into the int64 the renderer
// produces, so cached and fresh renders compare equal.
func fixNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = fixNumbers(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = fixNumbers(x)
		}
		return t
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int64(t)
		}
	}
	return v
}
