package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/gate-ops/gate/checks/cachefile"
	"github.com/gate-ops/gate/checks/render"
)

// packFormat versions the verdict packs on disk; bump it when a pack
// changes shape.
const packFormat = "gate-verdict-pack/1"

// Limits on a pack read back: a bigger file, or one with more entries, is
// refused whole (a cache miss).
const (
	maxPackBytes   = 32 << 20
	maxPackEntries = 1 << 20
)

// verdictDisk keeps verdicts between runs under the render cache's
// directory (--cache-dir), pruned with it. A stage's verdicts of one check
// (one environment at one revision) are one pack, named by a digest of
// the gate build and every key in it: a warm run reads a few packs instead
// of judging what it judged last time. A pack that does not read back
// exactly as written (format, name, every key in order, checksum, limits)
// is refused whole and the verdicts are computed again; packs are written
// atomically (a temporary file renamed into place).
type verdictDisk struct {
	dir, salt string
	// packs records the packs read or written in this run (pack name ->
	// true when on disk and good).
	packs map[string]bool
}

type verdictPack struct {
	Format string `json:"format"`
	// Key is the pack's name, repeated inside it.
	Key string `json:"key"`
	// Sum digests the name and every entry, so a pack damaged in a way
	// that still decodes is refused.
	Sum     string      `json:"sum"`
	Entries []packEntry `json:"entries"`
}

type packEntry struct {
	K string `json:"k"`
	V string `json:"v"`
}

// runVerdicts is the verdict store of one run: in memory, and on disk
// when the run has a render cache.
func runVerdicts(req *Request) *Verdicts {
	if req.Base == nil && req.Render.Cache == nil {
		// Nothing to share a verdict with (no base side) and nowhere to
		// keep it: digesting every resource would be work for nothing.
		return nil
	}
	v := NewVerdicts()
	if c := req.Render.Cache; c != nil {
		v.disk = newVerdictDisk(c)
	}
	return v
}

func newVerdictDisk(c *render.Cache) *verdictDisk {
	return &verdictDisk{dir: filepath.Join(c.Dir(), "verdicts"), salt: c.Salt(), packs: map[string]bool{}}
}

func (d *verdictDisk) name(keys [][32]byte) string {
	h := sha256.New()
	dg := digester{h: h}
	dg.str(packFormat)
	dg.str(d.salt)
	dg.tag('k', uint64(len(keys)))
	for _, k := range keys {
		h.Write(k[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (d *verdictDisk) path(name string) string {
	return filepath.Join(d.dir, name[:2], name+".json")
}

func packSum(name string, es []packEntry) string {
	h := sha256.New()
	dg := digester{h: h}
	dg.str(name)
	for _, e := range es {
		dg.str(e.K)
		dg.str(e.V)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Prefetch loads the pack of keys from disk when one of them is not in
// memory: the verdicts of a check (a stage over one environment at one
// revision) are stored together by Persist.
func (v *Verdicts) Prefetch(keys [][32]byte) {
	if v == nil || v.disk == nil || len(keys) == 0 {
		return
	}
	v.mu.Lock()
	all := true
	for _, k := range keys {
		if _, ok := v.m[k]; !ok {
			all = false
			break
		}
	}
	v.mu.Unlock()
	if all {
		return
	}
	name := v.disk.name(keys)
	es, ok := v.disk.read(name, keys)
	v.mu.Lock()
	v.disk.packs[name] = ok
	v.mu.Unlock()
	if !ok {
		return
	}
	for i, e := range es {
		v.put(keys[i], []byte(e.V))
	}
}

// read reads and checks the pack name of keys; false refuses it whole.
func (d *verdictDisk) read(name string, keys [][32]byte) ([]packEntry, bool) {
	f, err := os.Open(d.path(name))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPackBytes+1))
	if err != nil || len(b) > maxPackBytes {
		return nil, false
	}
	var p verdictPack
	if err := json.Unmarshal(b, &p); err != nil || p.Format != packFormat || p.Key != name ||
		len(p.Entries) != len(keys) || len(p.Entries) > maxPackEntries || p.Sum != packSum(name, p.Entries) {
		return nil, false
	}
	for i, e := range p.Entries {
		if e.K != hex.EncodeToString(keys[i][:]) || (e.V != "" && !json.Valid([]byte(e.V))) {
			return nil, false
		}
	}
	return p.Entries, true
}

// Persist writes the verdicts of keys as one pack, unless this run read
// or wrote that pack already, it is on disk, or a verdict is missing (one
// the stage would not store).
func (v *Verdicts) Persist(keys [][32]byte) {
	if v == nil || v.disk == nil || len(keys) == 0 {
		return
	}
	name := v.disk.name(keys)
	v.mu.Lock()
	good, seen := v.disk.packs[name]
	es := make([]packEntry, 0, len(keys))
	for _, k := range keys {
		b, ok := v.m[k]
		if !ok || !utf8.Valid(b) {
			es = nil
			break
		}
		es = append(es, packEntry{K: hex.EncodeToString(k[:]), V: string(b)})
	}
	v.mu.Unlock()
	if es == nil || good {
		return
	}
	if !seen {
		// Not read this run (every verdict was in memory): one on disk
		// is left as it is (read and checked when a run needs it).
		if _, err := os.Stat(v.disk.path(name)); err == nil {
			return
		}
	}
	b, err := json.Marshal(verdictPack{Format: packFormat, Key: name, Sum: packSum(name, es), Entries: es})
	if err != nil || len(b) > maxPackBytes {
		return
	}
	// A pack that cannot be written is only a miss next time.
	if cachefile.Write(v.disk.path(name), b) == nil {
		v.mu.Lock()
		v.disk.packs[name] = true
		v.mu.Unlock()
	}
}
