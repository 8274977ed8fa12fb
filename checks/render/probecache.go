package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// The render cache works as ccache's direct mode: an environment's
// manifest (keyed by its definition, the limits, the gate build and the
// chart cache) lists the probe sets of its past renders with the answers
// each got. A source that gives every probe of an entry the same answer
// renders the same (the render is a function of those answers), so the
// entry's result is served. Nothing is scanned to find the key: the
// record is what the render itself asked its Source.

// manifestFormat versions manifests.
const manifestFormat = "gate-render-manifest/1"

// manifestEntries bounds the probe sets a manifest keeps (newest first).
const manifestEntries = 8

// Record is what one render of an environment probed, with the answers the
// source it rendered gave.
type Record struct {
	Probes  []source.Probe `json:"probes"`
	Answers []string       `json:"answers"`
	// Result keys the stored render.
	Result string `json:"result"`
}

type manifest struct {
	Format  string   `json:"format"`
	Entries []Record `json:"entries"`
}

type answerKey struct {
	src source.Source
	p   source.Probe
}

// Answer is source.Answer, memoised for the run when c is not nil.
func (c *Cache) Answer(src source.Source, p source.Probe) string {
	src = source.Unwrap(src)
	if c == nil {
		return source.Answer(src, p)
	}
	k := answerKey{src, p}
	if v, ok := c.answers.Load(k); ok {
		return v.(string)
	}
	v := source.Answer(src, p)
	c.answers.Store(k, v)
	return v
}

// Holds reports whether src answers every probe of rec as recorded.
func (c *Cache) Holds(src source.Source, rec Record) bool {
	if len(rec.Probes) != len(rec.Answers) {
		return false
	}
	for i, p := range rec.Probes {
		if c.Answer(src, p) != rec.Answers[i] {
			return false
		}
	}
	return true
}

// RecordOf is res's probe record with src's answers.
func (c *Cache) RecordOf(src source.Source, res *Result) Record {
	rec := Record{Probes: res.Probes, Answers: make([]string, len(res.Probes))}
	for i, p := range res.Probes {
		rec.Answers[i] = c.Answer(src, p)
	}
	return rec
}

// manifestKey keys env's manifest; charts is the chart cache's state.
func (c *Cache) manifestKey(env checks.Env, lim Limits, charts string) string {
	envJSON, _ := json.Marshal(env)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%+v\x00%s", manifestFormat, c.salt, envJSON, lim, charts)
	return "m-" + hex.EncodeToString(h.Sum(nil))
}

func (c *Cache) loadManifest(key string) manifest {
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return manifest{}
	}
	var m manifest
	if json.Unmarshal(b, &m) != nil || m.Format != manifestFormat {
		return manifest{}
	}
	return m
}

// lookup returns the first record of env's manifest that src answers.
func (c *Cache) lookup(src source.Source, mkey string) (Record, bool) {
	for _, rec := range c.loadManifest(mkey).Entries {
		if c.Holds(src, rec) {
			return rec, true
		}
	}
	return Record{}, false
}

// storeRender stores res under its record and adds the record to the
// manifest (a concurrent run may drop an entry: a later miss, never a
// wrong hit).
func (c *Cache) storeRender(src source.Source, mkey string, res *Result) error {
	rec := c.RecordOf(src, res)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", mkey)
	for i, p := range rec.Probes {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", p.Op, p.Path, rec.Answers[i])
	}
	rec.Result = "r-" + hex.EncodeToString(h.Sum(nil))
	if err := c.store(rec.Result, res); err != nil {
		return err
	}
	return c.addToManifest(mkey, rec)
}

// addToManifest puts rec first in the manifest mkey. The read-modify-write
// is serialised within the process: the base and the head of an
// environment share a manifest when their closures are equal, finish
// together, and one would otherwise drop the other's entry (a run of
// another process still can: a later miss, never a wrong hit).
func (c *Cache) addToManifest(mkey string, rec Record) error {
	c.manifestMu.Lock()
	defer c.manifestMu.Unlock()
	m := c.loadManifest(mkey)
	out := []Record{rec}
	for _, e := range m.Entries {
		if e.Result != rec.Result && len(out) < manifestEntries {
			out = append(out, e)
		}
	}
	b, err := json.Marshal(manifest{Format: manifestFormat, Entries: out})
	if err != nil {
		return fmt.Errorf("encode render manifest: %w", err)
	}
	return c.write(mkey, b)
}

// manifestKeyOf keys env's manifest at src: a confined render is a
// function of its probes' answers and of its closure (what it may probe).
func (r *Renderer) manifestKeyOf(src source.Source, env checks.Env) string {
	return r.opts.Cache.manifestKey(env, r.opts.Limits, r.chartState()+"\x00"+r.closureFor(src, env).Digest())
}

// indexKey keys env's record in a tree's records index: the tree's
// content ID keys the index, and the closure is a function of the tree,
// so it need not be computed (a warm run asks the tree nothing).
func (r *Renderer) indexKey(env checks.Env) string {
	return r.opts.Cache.manifestKey(env, r.opts.Limits, r.chartState())
}

// chartState digests the chart cache's files (names, sizes, times): a
// pull changes it, and every render made before is looked up afresh.
func (r *Renderer) chartState() string {
	r.chartsOnce.Do(func() {
		if r.opts.Charts == nil {
			r.charts = "none"
			return
		}
		h := sha256.New()
		root := filepath.Join(r.opts.Charts.Dir(), "charts")
		var names []string
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil //nolint:nilerr // an unreadable entry is left out; the render reports it
			}
			if fi, ierr := d.Info(); ierr == nil {
				names = append(names, fmt.Sprintf("%s\x00%d\x00%d", p, fi.Size(), fi.ModTime().UnixNano()))
			}
			return nil
		})
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(h, "%s\x00", n)
		}
		r.charts = hex.EncodeToString(h.Sum(nil))
	})
	return r.charts
}

// cachedRender is renderWith with the cache: a hit when src answers a stored
// record, else a render that is stored under its own record.
func (r *Renderer) cachedRender(ctx context.Context, m *memo, src source.Source, env checks.Env) *Result {
	c := r.opts.Cache
	start := time.Now()
	mkey := r.manifestKeyOf(src, env)
	if rec, ok := c.lookup(src, mkey); ok {
		if res, ok := c.load(rec.Result, src, r.opts.Limits); ok {
			res.Duration = time.Since(start)
			r.opts.Logger.Debug("render cache hit", "env", env.Name, "key", rec.Result[:14])
			return res
		}
	}
	res := r.render(ctx, m, src, env)
	if !storable(ctx, res) {
		return res
	}
	if err := c.storeRender(src, mkey, res); err != nil {
		r.opts.Logger.Warn("render cache write failed", "env", env.Name, "err", err)
	}
	return res
}

// Records returns, for each of envs, the record of its render at src: from
// the cache when src answers a stored one, else by rendering the missing
// environments (concurrently, sharing subtrees, and storing them). It is
// what an incremental run knows of the base: the environment's
// dependencies are exactly what its render probed.
//
// A source a content ID names whole (a commit's tree) also has a records
// index: one file, keyed by the gate build and the tree's ID, mapping each
// environment's manifest key to its record there. The ID proves every
// answer a record holds, so a warm run reads that one file and asks no
// probe of the base; environments it lacks are looked up (and added) as
// above.
//
// An environment whose render was cut short (timeout, internal error,
// cancellation) gets nil, as in CachedRecords: it probed less than a whole
// render would, so its record proves nothing untouched.
func (r *Renderer) Records(ctx context.Context, src source.Source, envs []checks.Env) []*Record {
	out := make([]*Record, len(envs))
	var missing []checks.Env
	var idx []int
	c := r.opts.Cache
	ix := c.openRecordsIndex(src)
	for i, e := range envs {
		if c != nil {
			if rec, ok := ix.get(r.indexKey(e)); ok {
				out[i] = &rec
				continue
			}
			if rec, ok := c.lookup(src, r.manifestKeyOf(src, e)); ok {
				out[i] = &rec
				ix.add(r.indexKey(e), rec)
				continue
			}
		}
		missing = append(missing, e)
		idx = append(idx, i)
	}
	if len(missing) > 0 {
		rc := c
		if rc == nil {
			// Answers memoised for this call only.
			rc = &Cache{}
		}
		for j, res := range r.RenderAll(ctx, src, missing) {
			if !storable(ctx, res) {
				continue
			}
			rec := rc.RecordOf(src, res)
			out[idx[j]] = &rec
			if c != nil {
				ix.add(r.indexKey(missing[j]), rec)
			}
		}
	}
	if err := ix.save(); err != nil {
		r.opts.Logger.Warn("render cache: records index write failed", "err", err)
	}
	return out
}

// storable reports whether res may be stored: a cancelled or cut-short
// render probed less than a whole one would.
func storable(ctx context.Context, res *Result) bool {
	if errors.Is(ctx.Err(), context.Canceled) {
		return false
	}
	for _, f := range res.Findings {
		if f.RuleID == "render/timeout" || f.RuleID == "render/internal" {
			return false
		}
	}
	return true
}

// CachedRecords returns, for each of envs, the cached record of its render
// that src answers, or nil: a lookup only, nothing is rendered.
func (r *Renderer) CachedRecords(src source.Source, envs []checks.Env) []*Record {
	out := make([]*Record, len(envs))
	c := r.opts.Cache
	if c == nil {
		return out
	}
	ix := c.openRecordsIndex(src)
	for i, e := range envs {
		if rec, ok := ix.get(r.indexKey(e)); ok {
			out[i] = &rec
			continue
		}
		if rec, ok := c.lookup(src, r.manifestKeyOf(src, e)); ok {
			out[i] = &rec
			ix.add(r.indexKey(e), rec)
		}
	}
	if err := ix.save(); err != nil {
		r.opts.Logger.Warn("render cache: records index write failed", "err", err)
	}
	return out
}
