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
const closuresFormat = "gate-closures/1"

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

type closuresEntry struct {
	Format   string     `json:"format"`
	Closures []*Closure `json:"closures"`
}

func (c *Cache) loadClosures(key string, envs []checks.Env) ([]*Closure, bool) {
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return nil, false
	}
	var e closuresEntry
	if json.Unmarshal(b, &e) != nil || e.Format != closuresFormat || len(e.Closures) != len(envs) {
		return nil, false
	}
	for i, cl := range e.Closures {
		if cl == nil || cl.Env != envs[i].Name {
			return nil, false
		}
		cl.index()
	}
	return e.Closures, true
}

func (c *Cache) storeClosures(key string, cls []*Closure) error {
	b, err := json.Marshal(closuresEntry{Format: closuresFormat, Closures: cls})
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
