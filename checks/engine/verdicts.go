package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash"
	"math"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/gate-ops/gate/checks"
)

// Verdicts holds the per-resource verdicts the render-only stages computed
// in one run, found by a key that digests everything the verdict was
// computed from. The base and the head of a pull request share most of
// their resources byte for byte: a stage that finds a verdict under the
// same key reuses it instead of judging the resource again. What a key
// covers is the stage's business (the resource as the stage sees it, its
// trusted configuration, the environment data it reads); a stage must not
// store a verdict that read anything its key leaves out. Verdicts are raw
// (what was violated, the message, the field path): each side maps them
// to its own findings and source lines. Safe for concurrent use.
type Verdicts struct {
	mu sync.Mutex
	m  map[[32]byte][]byte
	// digests memoises ResourceDigest per resource for the run.
	digests sync.Map // *checks.Resource -> resDigest
	// bytes counts what m holds, to bound the memory of a huge run.
	bytes int
	// hits counts the verdicts Get found.
	hits atomic.Int64
	// disk, when set, keeps verdicts between runs (verdict_disk.go).
	disk *verdictDisk
}

// maxVerdictBytes bounds the verdicts one run keeps in memory; past it new
// verdicts are not kept (reuse is an optimisation, never a requirement).
const maxVerdictBytes = 64 << 20

// NewVerdicts returns an empty store for one run.
func NewVerdicts() *Verdicts {
	return &Verdicts{m: map[[32]byte][]byte{}}
}

// Get returns the verdict stored under key. The bytes are shared: callers
// decode them and never modify them.
func (v *Verdicts) Get(key [32]byte) ([]byte, bool) {
	if v == nil {
		return nil, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.m[key]
	if ok {
		v.hits.Add(1)
	}
	return b, ok
}

// Hits is how many verdicts were found (reused) so far.
func (v *Verdicts) Hits() int64 {
	if v == nil {
		return 0
	}
	return v.hits.Load()
}

// Put stores a verdict under key (the store keeps b: callers hand it over).
func (v *Verdicts) Put(key [32]byte, b []byte) {
	if v == nil {
		return
	}
	v.put(key, b)
}

func (v *Verdicts) put(key [32]byte, b []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.m[key]; ok || v.bytes+len(b)+64 > maxVerdictBytes {
		return
	}
	v.m[key] = b
	v.bytes += len(b) + 64
}

type resDigest struct {
	sum [32]byte
	ok  bool
}

// ResourceDigest digests what a stage can read of one resource: its
// object (every value with its Go type, map keys sorted), its rendered
// YAML and the file it came from. Two resources with the same digest are
// the same input to a stage that reads nothing else of them. ok is false
// for an object holding a value of a type the digest does not know: such a
// resource is never reused.
func (v *Verdicts) ResourceDigest(r *checks.Resource) ([32]byte, bool) {
	if v == nil || r == nil {
		return [32]byte{}, false
	}
	if d, ok := v.digests.Load(r); ok {
		x := d.(resDigest)
		return x.sum, x.ok
	}
	var out resDigest
	out.sum, out.ok = ResourceDigest(r)
	v.digests.Store(r, out)
	return out.sum, out.ok
}

// ResourceDigest is Verdicts.ResourceDigest without the memo.
func ResourceDigest(r *checks.Resource) ([32]byte, bool) {
	h := sha256.New()
	d := digester{h: h}
	d.str("gate-resource/1")
	ok := d.value(r.Object)
	d.bytes(r.YAML)
	d.str(r.Origin.File)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, ok
}

// digester writes values into a hash unambiguously: every value is tagged
// with its type and every string and collection with its length.
type digester struct {
	h   hash.Hash
	buf [binary.MaxVarintLen64 + 1]byte
}

func (d *digester) tag(t byte, n uint64) {
	d.buf[0] = t
	k := binary.PutUvarint(d.buf[1:], n)
	d.h.Write(d.buf[:1+k])
}

func (d *digester) str(s string) {
	d.tag('s', uint64(len(s)))
	d.h.Write([]byte(s))
}

func (d *digester) bytes(b []byte) {
	d.tag('s', uint64(len(b)))
	d.h.Write(b)
}

// value digests a decoded object; false for a type it does not know.
func (d *digester) value(x any) bool {
	switch t := x.(type) {
	case nil:
		d.tag('n', 0)
	case bool:
		if t {
			d.tag('b', 1)
		} else {
			d.tag('b', 0)
		}
	case string:
		d.str(t)
	case int:
		d.tag('i', uint64(int64(t)))
	case int64:
		d.tag('I', uint64(t))
	case float64:
		d.tag('f', math.Float64bits(t))
	case json.Number:
		d.tag('N', uint64(len(t)))
		d.h.Write([]byte(t))
	case []any:
		d.tag('a', uint64(len(t)))
		for _, e := range t {
			if !d.value(e) {
				return false
			}
		}
	case map[string]any:
		d.tag('m', uint64(len(t)))
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			d.str(k)
			if !d.value(t[k]) {
				return false
			}
		}
	default:
		return false
	}
	return true
}

// VerdictKey hashes the parts of a verdict's key (each length-prefixed, so
// no two lists of parts give the same key).
func VerdictKey(parts ...[]byte) [32]byte {
	h := sha256.New()
	d := digester{h: h}
	for _, p := range parts {
		d.tag('p', uint64(len(p)))
		h.Write(p)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}
