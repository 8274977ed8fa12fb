package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/bits"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// Closure is the set of repo paths an environment's render may read: a
// generous over-approximation computed without rendering, which the
// render is then confined to (source.Confine in render()). Confinement
// is what makes it sound, whatever way of reading a library has.
//
// The argument. A confined render asks its Source questions (probes);
// every probe outside the closure gets one fixed error that depends only
// on the path, so the render is a function of the closure and of the
// answers to allowed probes. An allowed probe of p is answered from the
// files at p, under p (a listing) or, for a stat, from whether p is a
// directory; symlinks on the way lead inside the closure too (the closure
// adds every symlink target it meets, and the confinement refuses a name
// whose resolution leads outside). So if no changed file
//   - lies in a closure directory, is a closure file or a named path, or
//     lies under a named path,
//   - or is a proper ancestor of a closure path (a file or symlink that
//     becomes, or stops being, a directory on the way),
//
// every allowed probe gets the same answer at base and head. The closure
// itself is computed only from such answers (the files it parses lie in
// it, every candidate path it tries is named, whether existing or not),
// so the head's closure is the base's, and the head renders exactly as
// the base. Stats of ancestors are allowed only above existing closure
// paths (directories at both revisions while nothing above changed); the
// closure never lists an ancestor.
//
// How it grows (a least fixpoint from the environment's seeds: its path,
// the values files of a Helm environment, a Flux cluster's directory):
// every directory in it brings its whole subtree; every symlink met brings
// its in-repo target; every kustomization, Chart.yaml and YAML or JSON
// file that names a kustomize builtin, Argo CD or Flux object brings every
// string scalar it holds (map keys aside), resolved as a repo path
// relative to the file's directory and each of its ancestors (so the repo
// root), and, for a path climbing up (../), relative to every directory of
// the closure and of a file it parsed (kustomize resolves a plugin
// config's paths from the kustomization using it): an existing path joins
// the closure, every candidate is named. A templated path (${, {{) under
// a key that names files, or an Argo CD environment (its render scans the
// whole repo for Applications), makes the closure the whole repo.
type Closure struct {
	Env string `json:"env"`
	// Whole is why the closure is the whole repo ("" when it is not).
	Whole string `json:"whole,omitempty"`
	// Dirs are whole subtrees, none under another.
	Dirs []string `json:"dirs,omitempty"`
	// Files are single files outside Dirs.
	Files []string `json:"files,omitempty"`
	// Named are every path the closure tried, existing or not.
	Named []string `json:"named,omitempty"`

	once               sync.Once
	dirs, files, named map[string]bool
	// above are the proper ancestors of Dirs and Files (stat only);
	// aboveAny adds those of Named (what a changed file may not be).
	above, aboveAny map[string]bool
}

// index builds the sets Allows and Touches ask, once.
func (c *Closure) index() { c.once.Do(c.build) }

func (c *Closure) build() {
	c.dirs, c.files, c.named = setOf(c.Dirs), setOf(c.Files), setOf(c.Named)
	c.above, c.aboveAny = map[string]bool{}, map[string]bool{}
	for _, l := range [][]string{c.Dirs, c.Files} {
		for _, p := range l {
			addAncestors(c.above, p)
		}
	}
	for _, l := range [][]string{c.Dirs, c.Files, c.Named} {
		for _, p := range l {
			addAncestors(c.aboveAny, p)
		}
	}
}

func setOf(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, p := range l {
		m[p] = true
	}
	return m
}

func addAncestors(m map[string]bool, p string) {
	for p != "." {
		p = path.Dir(p)
		if m[p] {
			return
		}
		m[p] = true
	}
}

// within reports whether p is or lies under a path of set.
func within(set map[string]bool, p string) bool {
	for {
		if set[p] {
			return true
		}
		if p == "." {
			return false
		}
		p = path.Dir(p)
	}
}

// Allows implements source.Allower.
func (c *Closure) Allows(op, p string) bool {
	c.index()
	if c.Whole != "" || within(c.dirs, p) || c.files[p] || within(c.named, p) {
		return true
	}
	return (op == source.ProbeStat || op == source.ProbeResolve) && c.above[p]
}

// Touches reports whether a changed file can change what a render
// confined to c reads (see Closure).
func (c *Closure) Touches(changed string) bool {
	c.index()
	return c.Whole != "" || within(c.dirs, changed) || c.files[changed] || within(c.named, changed) || c.aboveAny[changed]
}

// fewChanged is how many changed paths TouchedBy matches against a
// closure's lists directly rather than indexing it.
const fewChanged = 16

// TouchedBy returns the paths of changed that reach c (Touches), in
// their order. A few are matched against c's lists directly: a closure
// read from the cache is then not indexed only to be asked about them.
func (c *Closure) TouchedBy(changed []string) []string {
	var out []string
	for _, p := range changed {
		if len(changed) > fewChanged && c.Touches(p) || len(changed) <= fewChanged && c.touchesListed(p) {
			out = append(out, p)
		}
	}
	return out
}

// touchesListed is Touches(p) asked of the lists: p is or lies under a
// dir or named path, is a file, or is a proper ancestor of any of them.
func (c *Closure) touchesListed(p string) bool {
	if c.Whole != "" {
		return true
	}
	for _, l := range [][]string{c.Dirs, c.Files, c.Named} {
		for _, s := range l {
			if s == p || properAncestor(p, s) {
				return true
			}
		}
	}
	for _, l := range [][]string{c.Dirs, c.Named} {
		for _, s := range l {
			if s == "." || properAncestor(s, p) {
				return true
			}
		}
	}
	return false
}

// properAncestor reports whether a is a proper ancestor of p ("." of
// every path but itself).
func properAncestor(a, p string) bool {
	if a == "." {
		return p != "."
	}
	return len(p) > len(a) && p[len(a)] == '/' && p[:len(a)] == a
}

// Digest identifies the closure, for the render cache's keys: a render
// is a function of its probes' answers and of what it may probe.
func (c *Closure) Digest() string {
	h := sha256.New()
	h.Write([]byte(c.Whole + "\x00"))
	for _, l := range [][]string{c.Dirs, c.Files, c.Named} {
		for _, p := range l {
			h.Write([]byte(p + "\x00"))
		}
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// closureMarkers are what a YAML or JSON file must contain for its
// strings to be followed: kustomize builtins and kustomizations, Argo CD
// and Flux objects. A file without one names no file a renderer reads
// (a render reading one anyway meets the confinement).
var closureMarkers = [][]byte{[]byte("builtin"), []byte("kustomize.config.k8s.io"), []byte("argoproj.io"), []byte("fluxcd.io")}

// parsedAlways are files whose strings are followed whatever they hold.
func parsedAlways(name string) bool {
	switch name {
	case "kustomization.yaml", "kustomization.yml", "Kustomization", "Chart.yaml", "requirements.yaml":
		return true
	}
	return false
}

func closureCandidate(name string) bool {
	if parsedAlways(name) {
		return true
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// closureSeeds are where an environment's closure starts, or why it is
// the whole repo.
func closureSeeds(env checks.Env) ([]string, string) {
	switch env.Kind {
	case KindKustomize, "", KindPlain, KindFlux:
		return []string{env.Path}, ""
	case KindHelm:
		return append([]string{env.Path}, env.ValuesFiles...), ""
	case KindArgo:
		return nil, "an Argo CD environment's render scans the whole repo for its Application"
	}
	return nil, "environment kind " + env.Kind + " has no closure"
}

// closureOf computes env's closure over the index's source.
//
// The fixpoint is semi-naive: each climbing string is joined only with
// the bases it has not met yet. It makes the same additions in the same
// order as the naive product it replaces (each round: the climbing
// strings known at its start, sorted; for each, the bases known by then
// that it has not met, sorted), so a closure made whole names the same
// file (closure_ref_test.go holds it to the naive one).
func (x *closureIndex) closureOf(env checks.Env) *Closure {
	seeds, whole := closureSeeds(env)
	st := &closureState{x: x, dirs: map[string]bool{}, files: map[string]bool{},
		parsed: map[string]bool{}, bases: map[string]bool{}, ups: map[string]*climb{}, whole: whole}
	for _, s := range seeds {
		if c, err := source.Clean(s); err == nil {
			st.addPath(c)
		}
	}
	for st.whole == "" {
		n := st.named.n
		for _, u := range keysOf(st.ups) {
			cl := st.ups[u]
			lo, hi := cl.met, len(st.baseSeq)
			cl.met = hi
			for _, b := range st.basesBetween(lo, hi) {
				if j := x.joined(b, cl); j >= 0 {
					st.addID(j)
				}
			}
		}
		if st.named.n == n {
			break
		}
	}
	c := &Closure{Env: env.Name, Whole: st.whole}
	if c.Whole == "" {
		for _, d := range keysOf(st.dirs) {
			if !underAny(st.dirs, d) {
				c.Dirs = append(c.Dirs, d)
			}
		}
		for _, f := range keysOf(st.files) {
			if !within(st.dirs, f) {
				c.Files = append(c.Files, f)
			}
		}
		c.Named = make([]string, 0, st.named.n)
		st.named.each(func(i int32) { c.Named = append(c.Named, x.nodes[i].p) })
		sort.Strings(c.Named)
	}
	return c
}

// idSet is a set of path IDs.
type idSet struct {
	bits []uint64
	n    int
}

func (s *idSet) has(i int32) bool {
	w := int(i) / 64
	return w < len(s.bits) && s.bits[w]&(1<<(uint(i)%64)) != 0
}

func (s *idSet) add(i int32) {
	w := int(i) / 64
	for w >= len(s.bits) {
		s.bits = append(s.bits, 0)
	}
	s.bits[w] |= 1 << (uint(i) % 64)
	s.n++
}

func (s *idSet) each(fn func(int32)) {
	for w, b := range s.bits {
		for ; b != 0; b &= b - 1 {
			fn(int32(w*64 + bits.TrailingZeros64(b)))
		}
	}
}

// basesBetween are the bases added lo..hi-1, sorted (the last answer is
// kept: the climbing strings of a round mostly ask the same span).
func (st *closureState) basesBetween(lo, hi int) []base {
	if lo == hi {
		return nil
	}
	if st.span != [2]int{lo, hi} {
		st.span = [2]int{lo, hi}
		st.spanBases = append(st.spanBases[:0], st.baseSeq[lo:hi]...)
		sort.Slice(st.spanBases, func(i, j int) bool { return st.spanBases[i].p < st.spanBases[j].p })
	}
	return st.spanBases
}

func underAny(dirs map[string]bool, d string) bool {
	return d != "." && within(dirs, path.Dir(d))
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// closureState is one environment's fixpoint in progress.
type closureState struct {
	x             *closureIndex
	dirs, files   map[string]bool
	parsed, bases map[string]bool
	named         idSet
	// baseSeq are the bases in the order they were added; ups the
	// climbing strings, each with how many of baseSeq it has met.
	baseSeq   []base
	ups       map[string]*climb
	span      [2]int
	spanBases []base
	whole     string
}

func (st *closureState) addBase(d string) {
	if !st.bases[d] {
		st.bases[d] = true
		b := baseOf(d)
		b.id = st.x.id(d)
		st.baseSeq = append(st.baseSeq, b)
	}
}

// addPath names p and adds what is there (with where its symlinks lead).
func (st *closureState) addPath(p string) { st.addID(st.x.id(p)) }

func (st *closureState) addID(i int32) {
	if st.whole != "" || st.named.has(i) {
		return
	}
	st.named.add(i)
	f, p := st.x.factsOf(i), st.x.nodes[i].p
	if f.to != "" {
		// A name through a symlink reads what the link leads to.
		st.addPath(f.to)
	}
	switch f.kind {
	case kindDir:
		st.addDir(p)
	case kindFile:
		st.addFile(p)
	}
}

func (st *closureState) addDir(d string) {
	if st.whole != "" || st.dirs[d] {
		return
	}
	st.dirs[d] = true
	st.addBase(d)
	e := st.x.dir(d)
	for _, f := range e.files {
		st.parse(f)
	}
	for _, l := range e.links {
		st.addPath(l)
	}
	for _, c := range e.children {
		st.addDir(c)
	}
}

func (st *closureState) addFile(f string) {
	if st.files[f] {
		return
	}
	st.files[f] = true
	if closureCandidate(path.Base(f)) {
		st.parse(f)
	}
}

func (st *closureState) parse(f string) {
	if st.parsed[f] || st.whole != "" {
		return
	}
	st.parsed[f] = true
	e := st.x.file(f)
	if e.whole != "" {
		st.whole = f + ": " + e.whole
		return
	}
	if len(e.cands) == 0 && len(e.ups) == 0 {
		return
	}
	st.addBase(path.Dir(f))
	for _, u := range e.ups {
		if st.ups[u] == nil {
			st.ups[u] = climbOf(u)
			st.ups[u].id = st.x.climbID(u)
		}
	}
	for _, c := range st.x.candIDs(f, e) {
		st.addID(c)
	}
}

// Closures returns the closure of each of envs at src (in order). Files
// are parsed and directories listed once for all of them.
// With a cache and a source a content ID names (a commit's tree), they
// are stored and read back: a base is closed once, not on every run.
func (r *Renderer) Closures(src source.Source, envs []checks.Env) []*Closure {
	return r.closuresKeyed(src, envs, r.opts.Cache.closuresKey(src, envs))
}

// ClosuresOfChange is Closures(head, envs) for a work tree that knows
// what it is against base (source.Dir's Diff, which engine.ChangedFiles
// records): with a cache, they are stored under base's content ID and
// that difference, and read back while the work tree stays as it is (a
// pre-commit hook or an editor's check run again on the same change).
func (r *Renderer) ClosuresOfChange(base, head source.Source, envs []checks.Env) []*Closure {
	return r.closuresKeyed(head, envs, r.opts.Cache.changeClosuresKey(base, head, envs))
}

func (r *Renderer) closuresKeyed(src source.Source, envs []checks.Env, key string) []*Closure {
	x := r.closureIndexOf(src)
	if key != "" {
		if out, ok := r.opts.Cache.loadClosures(key, envs); ok {
			x.adopt(envs, out)
			return out
		}
	}
	out := make([]*Closure, len(envs))
	for i, e := range envs {
		out[i] = x.closure(e)
	}
	if key != "" {
		if err := r.opts.Cache.storeClosures(key, out); err != nil {
			r.opts.Logger.Warn("render cache: closures not stored", "err", err)
		}
	}
	return out
}

// closureFiles holds a file's contribution to closures.
type closureFile struct {
	cands []string // repo paths its strings name
	ups   []string // its strings that climb (../), cleaned
	whole string   // why it makes closures the whole repo
}

// readClosureFile parses f (when it should be) and resolves its strings.
func readClosureFile(src source.Source, f string) closureFile {
	b, err := src.ReadFile(f)
	if err != nil {
		return closureFile{}
	}
	if !parsedAlways(path.Base(f)) && !hasMarker(b) {
		return closureFile{}
	}
	var out closureFile
	seen := map[string]bool{}
	walkStrings(b, 0, func(key, s string) bool {
		return out.add(f, key, s, seen)
	})
	return out
}

func hasMarker(b []byte) bool {
	for _, m := range closureMarkers {
		if bytes.Contains(b, m) {
			return true
		}
	}
	return false
}
