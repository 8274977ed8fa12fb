package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gate-ops/gate/checks/cachefile"
)

// HashIndex remembers the content addresses of a work tree's files by what
// stat says of them (size, times, inode), the way git's index does, so a
// run that asks for every file's hash (the files a change touches) reads
// only the files that changed since the last run. An entry is trusted only
// when its stat is unchanged and the file had not been modified for a while
// when it was hashed: a file written in the same timestamp tick as it was
// hashed could change again without its stat changing ("racy git").
//
// The index is a cache file under --cache-dir: a bad or foreign file is
// ignored whole, and nothing is written unless a hash was learnt.
type HashIndex struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	loaded  bool
	entries map[string]hashEntry
	dirty   bool
}

// hashEntry is one file's stat and hash, and when it was hashed.
type hashEntry struct {
	Stat     fileStat `json:"s"`
	Hash     string   `json:"h"`
	HashedAt int64    `json:"t"` // unix nanoseconds
}

// racySlack is how long before hashing a file must have been left alone
// for its stat to vouch for its content (coarse file system clocks).
const racySlack = 2 * time.Second

// maxHashEntries bounds the index (files of deleted paths linger until then).
const maxHashEntries = 200_000

const hashIndexFormat = "gate-hashes/1"

// OpenHashIndex returns the index stored at path (loaded on first use).
func OpenHashIndex(path string) *HashIndex {
	return &HashIndex{path: path, now: time.Now}
}

func (x *HashIndex) load() {
	if x.loaded {
		return
	}
	x.loaded = true
	x.entries = map[string]hashEntry{}
	b, err := os.ReadFile(x.path)
	if err != nil {
		return
	}
	var f struct {
		Format  string               `json:"format"`
		Entries map[string]hashEntry `json:"entries"`
	}
	if json.Unmarshal(b, &f) != nil || f.Format != hashIndexFormat || len(f.Entries) > maxHashEntries {
		return
	}
	for p, e := range f.Entries {
		if !validBlobHash(e.Hash) {
			return // refused whole: someone else's file
		}
		x.entries[p] = e
	}
}

func validBlobHash(h string) bool {
	if len(h) != 40 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// lookup returns the hash recorded for name when st vouches for it.
func (x *HashIndex) lookup(name string, st fileStat) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.load()
	e, ok := x.entries[name]
	if !ok || e.Stat != st {
		return "", false
	}
	if !st.settledBefore(e.HashedAt - int64(racySlack)) {
		return "", false
	}
	return e.Hash, true
}

// record remembers that name, with stat st, hashed to h at hashedAt.
func (x *HashIndex) record(name string, st fileStat, h string, hashedAt time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.load()
	if old, ok := x.entries[name]; ok && old.Stat == st && old.Hash == h && old.HashedAt == hashedAt.UnixNano() {
		return
	}
	if _, ok := x.entries[name]; !ok && len(x.entries) >= maxHashEntries {
		return
	}
	x.entries[name] = hashEntry{Stat: st, Hash: h, HashedAt: hashedAt.UnixNano()}
	x.dirty = true
}

// Save writes the index when it learnt something (atomically: a
// concurrent run reads the old file or the new one).
func (x *HashIndex) Save() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.dirty {
		return nil
	}
	var buf bytes.Buffer
	err := json.NewEncoder(&buf).Encode(struct {
		Format  string               `json:"format"`
		Entries map[string]hashEntry `json:"entries"`
	}{hashIndexFormat, x.entries})
	if err != nil {
		return fmt.Errorf("encode the work tree's hash index: %w", err)
	}
	if err := cachefile.Write(x.path, buf.Bytes()); err != nil {
		return fmt.Errorf("save the work tree's hash index: %w", err)
	}
	x.dirty = false
	return nil
}

// UseHashIndex makes FileHash answer from x for files whose stat vouches
// for their recorded hash.
func (d *Dir) UseHashIndex(x *HashIndex) { d.hashes = x }

// SaveHashIndex saves the index UseHashIndex gave (nothing without one).
func (d *Dir) SaveHashIndex() error {
	if d.hashes == nil {
		return nil
	}
	return d.hashes.Save()
}

// FileHash is source.FileHash for the work tree: from the hash index when
// the file's stat vouches for it, else read (and learnt). Errors are
// ReadFile's, as FileHash's are without an index.
func (d *Dir) FileHash(name string) (string, error) {
	x := d.hashes
	if x == nil {
		return d.readHash(name)
	}
	c, err := Clean(name)
	if err != nil {
		return d.readHash(name)
	}
	fi, err := d.Stat(c)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > d.maxSize {
		return d.readHash(name) // ReadFile says why
	}
	st, ok := statOf(fi)
	if !ok {
		return d.readHash(name)
	}
	if h, ok := x.lookup(c, st); ok {
		return h, nil
	}
	at := x.now()
	d.hashReads.Add(1)
	b, err := d.ReadFile(c)
	if err != nil {
		return "", err
	}
	h := BlobHash(b)
	// Learnt only when the file did not change while it was read.
	if fi2, err := d.Stat(c); err == nil {
		if st2, ok := statOf(fi2); ok && st2 == st && st.sizeIs(int64(len(b))) {
			x.record(c, st, h, at)
		}
	}
	return h, nil
}

func (d *Dir) readHash(name string) (string, error) {
	d.hashReads.Add(1)
	b, err := d.ReadFile(name)
	if err != nil {
		return "", err
	}
	return BlobHash(b), nil
}
