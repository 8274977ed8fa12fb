package render

import (
	"fmt"
	"path"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// closureIndex memoises, for one source, what closures are made of: each
// file's strings, each directory's entries, stats and symlinks. Fifty
// environments sharing bases parse each file once.
type closureIndex struct {
	src source.Source
	res interface{ Resolve(string) (string, error) }

	mu       sync.Mutex
	stats    map[string]int8 // kindFile, kindDir, kindNone
	resolves map[string]string
	// ids number the paths closures name, nodes hold each one's facts;
	// joins are the IDs climbing strings (climbIDs) lead to from a base
	// (-1: nowhere), cands the IDs of a parsed file's candidates: all
	// shared by the environments of the source.
	ids      map[string]int32
	nodes    []pathNode
	climbIDs map[string]int32
	joins    map[[2]int32]int32
	cands    map[string][]int32
	dirs     map[string]*closureDir
	files    map[string]*closureFile
	closures map[string]*Closure
}

// closureDir is one directory's entries, as closures use them.
type closureDir struct {
	children []string // subdirectories
	files    []string // files whose strings may be followed
	links    []string // where its symlinks lead
}

// closureIndexes keeps the indexes of the last few sources a Renderer
// saw (a run has a base and a head).
type closureIndexes struct {
	mu   sync.Mutex
	list []*closureIndex
}

const closureIndexesKept = 4

// ClosureMemo holds the closures computed on the last few sources, for
// the Renderers that share it (Options.Closures).
type ClosureMemo struct{ ix closureIndexes }

// NewClosureMemo returns an empty ClosureMemo.
func NewClosureMemo() *ClosureMemo { return &ClosureMemo{} }

func (r *Renderer) closureIndexOf(src source.Source) *closureIndex {
	src = source.Unwrap(src)
	ci := &r.closureIdx
	if r.opts.Closures != nil {
		ci = &r.opts.Closures.ix
	}
	ci.mu.Lock()
	defer ci.mu.Unlock()
	for _, x := range ci.list {
		if x.src == src {
			return x
		}
	}
	x := &closureIndex{src: src, stats: map[string]int8{}, resolves: map[string]string{}, ids: map[string]int32{},
		climbIDs: map[string]int32{}, joins: map[[2]int32]int32{}, cands: map[string][]int32{},
		dirs: map[string]*closureDir{}, files: map[string]*closureFile{}, closures: map[string]*Closure{}}
	x.res, _ = src.(interface{ Resolve(string) (string, error) })
	ci.list = append(ci.list, x)
	if len(ci.list) > closureIndexesKept {
		ci.list = ci.list[1:]
	}
	return x
}

// closureFor is env's closure at src, computed once per source.
func (r *Renderer) closureFor(src source.Source, env checks.Env) *Closure {
	return r.closureIndexOf(src).closure(env)
}

func closureKey(env checks.Env) string {
	return strings.Join(append([]string{env.Name, env.Path, env.Kind}, env.ValuesFiles...), "\x00")
}

func (x *closureIndex) closure(env checks.Env) *Closure {
	key := closureKey(env)
	x.mu.Lock()
	defer x.mu.Unlock()
	if c, ok := x.closures[key]; ok {
		return c
	}
	c := x.closureOf(env)
	x.closures[key] = c
	return c
}

// What a path is, as closures see it.
const (
	kindNone int8 = -1 // nothing usable: missing, or neither file nor directory
	kindFile int8 = 1
	kindDir  int8 = 2
)

// pathFacts are what a closure needs to know of a path it names: what is
// there, and where it leads through symlinks ("" when nowhere else): an
// existing path's resolution, a missing one's through its nearest
// existing ancestor (resolveMissing).
type pathFacts struct {
	kind int8
	to   string
}

// pathNode is a named path and its facts (once looked up).
type pathNode struct {
	p     string
	f     pathFacts
	known bool
}

// id numbers p. The index's lock is held.
func (x *closureIndex) id(p string) int32 {
	if i, ok := x.ids[p]; ok {
		return i
	}
	i := int32(len(x.nodes))
	x.nodes = append(x.nodes, pathNode{p: p})
	x.ids[p] = i
	return i
}

// factsOf the path numbered i, looked up once per source for all its
// environments. The index's lock is held.
func (x *closureIndex) factsOf(i int32) pathFacts {
	if n := x.nodes[i]; n.known {
		return n.f
	}
	f := x.facts(x.nodes[i].p)
	x.nodes[i].f, x.nodes[i].known = f, true
	return f
}

// joined is the ID of the path climbing string cl leads to from base b,
// -1 when it leads nowhere (climb.join).
func (x *closureIndex) joined(b base, cl *climb) int32 {
	k := [2]int32{b.id, cl.id}
	if j, ok := x.joins[k]; ok {
		return j
	}
	j := int32(-1)
	if c, ok := cl.join(b); ok {
		j = x.id(c)
	}
	x.joins[k] = j
	return j
}

func (x *closureIndex) climbID(u string) int32 {
	if i, ok := x.climbIDs[u]; ok {
		return i
	}
	i := int32(len(x.climbIDs))
	x.climbIDs[u] = i
	return i
}

// candIDs are the IDs of the candidates of parsed file f (entry e).
func (x *closureIndex) candIDs(f string, e *closureFile) []int32 {
	if ids, ok := x.cands[f]; ok {
		return ids
	}
	ids := make([]int32, len(e.cands))
	for i, c := range e.cands {
		ids[i] = x.id(c)
	}
	x.cands[f] = ids
	return ids
}

// facts of p: a stat, and symlinks followed. The index's lock is held.
func (x *closureIndex) facts(p string) pathFacts {
	isDir, ok := x.stat(p)
	f := pathFacts{kind: kindNone}
	switch {
	case !ok:
		f.to = x.resolveMissing(p)
	case isDir:
		f.kind = kindDir
	default:
		f.kind = kindFile
	}
	if ok {
		if to := x.resolve(p); to != p {
			f.to = to
		}
	}
	return f
}

// stat reports whether p exists and is a directory (isDir, ok). The
// index's lock is held. A path whose parent is no directory is not
// asked of the source: it is missing (a name under a missing directory,
// a file or anything else cannot be stat'ed; the answer is the one the
// source would give, without the lookup).
func (x *closureIndex) stat(p string) (bool, bool) {
	v, ok := x.stats[p]
	if !ok {
		v = kindNone
		if par := path.Dir(p); par == "." || x.statDir(par) {
			if fi, err := x.src.Stat(p); err == nil {
				if fi.IsDir() {
					v = kindDir
				} else if fi.Mode().IsRegular() {
					v = kindFile
				}
			}
		}
		x.stats[p] = v
	}
	return v == kindDir, v > 0
}

func (x *closureIndex) statDir(p string) bool {
	isDir, _ := x.stat(p)
	return isDir
}

// resolve is where p leads once symlinks are followed (p when nowhere else).
func (x *closureIndex) resolve(p string) string {
	if x.res == nil {
		return p
	}
	to, ok := x.resolves[p]
	if !ok {
		to = p
		if t, err := x.res.Resolve(p); err == nil {
			to = t
		}
		x.resolves[p] = to
	}
	return to
}

// resolveMissing is where a path that does not exist would lead through
// symlinks on its way ("" when it leads nowhere else).
// Only existing paths are resolved (a source may answer a missing one
// with its own guess, and the hostile corpus's tracer holds every
// successful resolve against the disk).
func (x *closureIndex) resolveMissing(p string) string {
	if a, rest := x.existingAncestor(p); a != "" {
		if to := x.resolve(a); to != a {
			if j, err := source.Join(to, rest); err == nil {
				return j
			}
		}
	}
	return ""
}

// existingAncestor is p's nearest existing proper ancestor below the root
// and the rest of p under it ("" when there is none).
func (x *closureIndex) existingAncestor(p string) (string, string) {
	for a := path.Dir(p); a != "."; a = path.Dir(a) {
		if _, ok := x.stat(a); ok {
			return a, p[len(a)+1:]
		}
	}
	return "", ""
}

func (x *closureIndex) dir(d string) *closureDir {
	if e, ok := x.dirs[d]; ok {
		return e
	}
	e := &closureDir{}
	ents, _ := x.src.ReadDir(d)
	for _, en := range ents {
		if en.Name() == ".git" {
			continue
		}
		p := path.Join(d, en.Name())
		if en.IsDir() {
			e.children = append(e.children, p)
			if _, ok := x.stats[p]; !ok && !strings.ContainsRune(en.Name(), '\\') {
				x.stats[p] = kindDir // what a stat of it answers
			}
			continue
		}
		if to := x.resolve(p); to != p {
			e.links = append(e.links, to)
		}
		if closureCandidate(en.Name()) {
			e.files = append(e.files, p)
		}
	}
	x.dirs[d] = e
	return e
}

func (x *closureIndex) file(f string) *closureFile {
	if e, ok := x.files[f]; ok {
		return e
	}
	e := readClosureFile(x.src, f)
	x.files[f] = &e
	return &e
}

// walkStrings calls fn with every string scalar of the YAML (or JSON)
// documents in b that is a map value or a list item, with the key it
// sits under; a multi-line string that is YAML itself (an inline plugin
// config) is walked too. fn returns false to stop. Parse errors end the
// walk of that text.
func walkStrings(b []byte, depth int, fn func(key, s string) bool) bool {
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	for docs := 0; docs < 10000; docs++ {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			return true
		}
		if !walkNode(&n, "", depth, fn) {
			return false
		}
	}
	return true
}

func walkNode(n *yaml.Node, key string, depth int, fn func(key, s string) bool) bool {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if !walkNode(c, key, depth, fn) {
				return false
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !walkNode(n.Content[i+1], n.Content[i].Value, depth, fn) {
				return false
			}
		}
	case yaml.ScalarNode:
		if n.Tag != "!!str" && n.Tag != "" {
			return true
		}
		if strings.Contains(n.Value, "\n") {
			if depth < 3 && strings.Contains(n.Value, ":") {
				return walkStrings([]byte(n.Value), depth+1, fn)
			}
			return true
		}
		return fn(key, n.Value)
	}
	return true
}

// pathKeys are the keys under which kustomize, Helm, Argo CD and Flux
// name files and directories: a templated or globbed string there is a
// path the closure cannot follow.
var pathKeys = map[string]bool{
	"path": true, "paths": true, "resources": true, "bases": true, "components": true, "files": true, "envs": true,
	"env": true, "valueFiles": true, "valuesFile": true, "additionalValuesFiles": true, "chartHome": true,
	"patchesStrategicMerge": true, "crds": true, "configurations": true, "generators": true, "transformers": true,
	"validators": true, "repository": true, "directories": true, "chart": true, "valuesFiles": true,
	"patchesJson6902": true,
}

// add resolves one string s of file f (under key) into candidates.
func (out *closureFile) add(f, key, s string, seen map[string]bool) bool {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 4096 || seen[key+"\x00"+s] {
		return true
	}
	seen[key+"\x00"+s] = true
	if strings.Contains(s, "${") || strings.Contains(s, "{{") {
		if pathKeys[key] {
			out.whole = fmt.Sprintf("%q (under %s:) is templated; the closure cannot follow it", s, key)
			return false
		}
		return true
	}
	if rest, ok := strings.CutPrefix(s, "$values/"); ok {
		out.cand(rest) // an Argo CD ref source: this repo's root
		return true
	}
	if i := strings.IndexByte(s, '/'); strings.HasPrefix(s, "@") && i > 1 {
		// A Flux ArtifactGenerator's "@source/path/**": from the root.
		if rest := s[i+1:]; !strings.HasPrefix(rest, "/") {
			if g := strings.IndexAny(rest, "*?["); g >= 0 {
				rest = path.Dir(rest[:g] + "x")
			}
			out.cand(rest)
		}
		return true
	}
	s = strings.TrimPrefix(s, "file://")
	if strings.Contains(s, "://") || IsRemote(s) || strings.HasPrefix(s, "/") {
		return true
	}
	vs := []string{s}
	if i := strings.IndexByte(s, '='); i > 0 {
		vs = append(vs, s[i+1:])
	}
	for _, v := range vs {
		if i := strings.IndexAny(v, "*?["); i >= 0 {
			if !pathKeys[key] {
				continue
			}
			v = path.Dir(v[:i] + "x")
			if path.Clean(v) == "." {
				out.whole = fmt.Sprintf("%q (under %s:) globs the repo root", s, key)
				return false
			}
		}
		out.resolve(f, path.Clean(v), pathKeys[key])
	}
	return true
}

// resolve adds the candidates of the clean relative path v named in f:
// v from f's directory and, under a key that names paths, from each
// ancestor ("." and climbing paths: from f's directory and the root only,
// else every ancestor would be whole). A string under any other key (a
// name, an image, a label) is tried from f's directory only: Flux and
// Argo CD objects are often named after the directories they render,
// which would bring in every sibling's tree.
func (out *closureFile) resolve(f, v string, named bool) {
	dir := path.Dir(f)
	climbs := v == ".." || strings.HasPrefix(v, "../")
	if climbs {
		out.ups = append(out.ups, v)
	}
	if !named {
		if strings.ContainsAny(v, "./") {
			out.join(dir, v) // file-like: tried where a kustomization would read it
		}
		return
	}
	if v == "." || climbs || strings.HasSuffix(v, "/..") {
		out.join(dir, v)
		out.join(".", v)
		return
	}
	for a := dir; ; a = path.Dir(a) {
		out.join(a, v)
		if a == "." {
			return
		}
	}
}

func (out *closureFile) join(dir, v string) {
	if c, err := source.Join(dir, v); err == nil {
		out.cands = append(out.cands, c)
	}
}

func (out *closureFile) cand(v string) { out.join(".", path.Clean(v)) }
