package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// cacheFormat versions the cache entries; bump when Result changes shape.
const cacheFormat = "gate-render-cache/2"

// Cache stores renders on disk, keyed by the content of every file the
// render can read (its Deps) and the environment's definition. The base
// side of a pull request, and any environment a change does not touch, is
// then loaded instead of rendered. Entries hold rendered manifests, so the
// directory is created private (0700).
type Cache struct {
	dir string
	// salt separates builds of gate whose output may differ.
	salt string
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
}

type cachedResource struct {
	Resource *checks.Resource `json:"resource"`
	YAML     string           `json:"yaml"`
	Loc      *locInfo         `json:"loc,omitempty"`
}

// key hashes the environment, the renderer's limits and the content of
// every dependency. It returns "" when a dependency cannot be hashed.
func (c *Cache) key(src source.Source, env checks.Env, deps Deps, lim Limits) string {
	h := sha256.New()
	envJSON, _ := json.Marshal(env)
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%+v\x00", cacheFormat, c.salt, envJSON, lim)
	for _, c := range deps.Charts {
		fmt.Fprintf(h, "c\x00%s\x00", c)
	}
	for _, f := range deps.Files {
		v, err := source.FileHash(src, f)
		if errors.Is(err, fs.ErrNotExist) {
			v = "absent"
		} else if err != nil {
			return ""
		}
		fmt.Fprintf(h, "f\x00%s\x00%s\x00", f, v)
	}
	for _, d := range deps.Dirs {
		var files []string
		err := fs.WalkDir(src, d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ""
		}
		sort.Strings(files)
		for _, f := range files {
			v, err := source.FileHash(src, f)
			if err != nil {
				return ""
			}
			fmt.Fprintf(h, "d\x00%s\x00%s\x00", f, v)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
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
	res.Findings, res.Files = e.Findings, e.Files
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
	e := cacheEntry{Format: cacheFormat, Env: res.Env, Findings: res.Findings, Files: res.Files}
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
	p := c.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), p)
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
