package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// closuresFormat versions the stored closures of a tree.
const closuresFormat = "gate-closures/2"

// closuresKey keys the closures of envs at src: the gate build and the
// content ID that names src whole (a commit's tree: the base of a pull
// request, closed once and read back on every later run); "" without a
// cache or an ID. A closure is a function of the tree and the
// environment's definition, both in the key.
func (c *Cache) closuresKey(src source.Source, envs []checks.Env) string {
	if c == nil {
		return ""
	}
	ider, ok := source.Unwrap(src).(contentIDer)
	if !ok {
		return ""
	}
	id := ider.ContentID()
	if id == "" {
		return ""
	}
	envJSON, err := json.Marshal(envs)
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", closuresFormat, c.salt, id, envJSON)
	return "c-" + hex.EncodeToString(h.Sum(nil))
}

// changeClosuresFormat versions the stored closures of a work tree.
const changeClosuresFormat = "gate-change-closures/1"

// differ is a work tree that knows what it is against a tree with a
// content ID (source.Dir).
type differ interface {
	Diff(base string) (string, bool)
	Root() string
}

// changeClosuresKey keys the closures of envs at head, a plain work tree
// (no symlink, no empty directory, every file hashed) whose files are
// base's but for a known difference: its files and contents are then a
// function of base's content ID and that difference, and so is every
// closure computed on it. The work tree's absolute path is in the key
// too (a file system that folds case answers stats another way). ""
// without a cache, an ID or a known difference.
func (c *Cache) changeClosuresKey(base, head source.Source, envs []checks.Env) string {
	if c == nil {
		return ""
	}
	ider, ok := source.Unwrap(base).(contentIDer)
	if !ok || ider.ContentID() == "" {
		return ""
	}
	d, ok := source.Unwrap(head).(differ)
	if !ok {
		return ""
	}
	diff, ok := d.Diff(ider.ContentID())
	if !ok {
		return ""
	}
	envJSON, err := json.Marshal(envs)
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%q\x00%s\x00%s", changeClosuresFormat, c.salt, ider.ContentID(), d.Root(), diff, envJSON)
	return "c-" + hex.EncodeToString(h.Sum(nil))
}

// closuresEntry is the closures of a tree, each path stored once: the
// environments of a repo share most of theirs (a catalog's bases), so
// the closures of the bench repo's 50 environments name 64,241 paths of
// which 5,667 differ. A closure's lists are indexes into Paths.
type closuresEntry struct {
	Format   string          `json:"format"`
	Paths    []string        `json:"paths"`
	Closures []storedClosure `json:"closures"`
}

type storedClosure struct {
	Env   string `json:"env"`
	Whole string `json:"whole,omitempty"`
	Dirs  []int  `json:"dirs,omitempty"`
	Files []int  `json:"files,omitempty"`
	Named []int  `json:"named,omitempty"`
}

// loadClosures reads the closures of envs back. A closure read is not
// indexed: Touches and Allows index it on first use, and the untouched
// decision asks most closures only about a few changed paths (TouchedBy).
func (c *Cache) loadClosures(key string, envs []checks.Env) ([]*Closure, bool) {
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return nil, false
	}
	e, ok := decodeClosures(b)
	if !ok {
		e = closuresEntry{}
		if json.Unmarshal(b, &e) != nil {
			return nil, false
		}
	}
	if e.Format != closuresFormat || len(e.Closures) != len(envs) {
		return nil, false
	}
	out := make([]*Closure, len(envs))
	for i, sc := range e.Closures {
		if sc.Env != envs[i].Name {
			return nil, false
		}
		cl := &Closure{Env: sc.Env, Whole: sc.Whole}
		for _, l := range []struct {
			idx []int
			to  *[]string
		}{{sc.Dirs, &cl.Dirs}, {sc.Files, &cl.Files}, {sc.Named, &cl.Named}} {
			if len(l.idx) == 0 {
				continue
			}
			*l.to = make([]string, len(l.idx))
			for j, k := range l.idx {
				if k < 0 || k >= len(e.Paths) {
					return nil, false // an entry naming a path it does not hold is refused whole
				}
				(*l.to)[j] = e.Paths[k]
			}
		}
		out[i] = cl
	}
	return out, true
}

func (c *Cache) storeClosures(key string, cls []*Closure) error {
	e := closuresEntry{Format: closuresFormat, Closures: make([]storedClosure, len(cls))}
	at := map[string]int{}
	ref := func(l []string) []int {
		if len(l) == 0 {
			return nil
		}
		out := make([]int, len(l))
		for i, p := range l {
			k, ok := at[p]
			if !ok {
				k = len(e.Paths)
				at[p] = k
				e.Paths = append(e.Paths, p)
			}
			out[i] = k
		}
		return out
	}
	for i, cl := range cls {
		e.Closures[i] = storedClosure{Env: cl.Env, Whole: cl.Whole, Dirs: ref(cl.Dirs), Files: ref(cl.Files), Named: ref(cl.Named)}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode closures: %w", err)
	}
	return c.write(key, b)
}

// adopt records closures read from the cache as the index's own.
func (x *closureIndex) adopt(envs []checks.Env, cls []*Closure) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i, e := range envs {
		x.closures[closureKey(e)] = cls[i]
	}
}
