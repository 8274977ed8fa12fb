package render

import (
	"path"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// refClosure is the closure computation as it was before the fixpoint
// was made semi-naive and the index's lookups were shortened (commit
// df2254c): every round re-walked the whole product of climbing strings
// and bases, and every candidate was stat'ed at the source. The tests
// hold the closures of today's closureOf equal to it, Whole reasons
// included (the first file met that makes a closure whole names it, so
// the order of the walk is part of the result).
func refClosure(src source.Source, env checks.Env) *Closure {
	src = source.Unwrap(src)
	x := &refIndex{src: src, stats: map[string]int8{}, resolves: map[string]string{}, dirs: map[string]*closureDir{},
		files: map[string]*closureFile{}}
	x.res, _ = src.(interface{ Resolve(string) (string, error) })
	seeds, whole := closureSeeds(env)
	st := &refState{x: x, dirs: map[string]bool{}, files: map[string]bool{}, named: map[string]bool{},
		parsed: map[string]bool{}, bases: map[string]bool{}, ups: map[string]bool{}, tried: map[[2]string]bool{}, whole: whole}
	for _, s := range seeds {
		if c, err := source.Clean(s); err == nil {
			st.addPath(c)
		}
	}
	for st.whole == "" {
		n := len(st.named)
		for _, u := range keysOf(st.ups) {
			for _, b := range keysOf(st.bases) {
				if k := [2]string{b, u}; !st.tried[k] {
					st.tried[k] = true
					if c, err := source.Join(b, u); err == nil {
						st.addPath(c)
					}
				}
			}
		}
		if len(st.named) == n {
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
		c.Named = keysOf(st.named)
	}
	return c
}

type refIndex struct {
	src      source.Source
	res      interface{ Resolve(string) (string, error) }
	stats    map[string]int8
	resolves map[string]string
	dirs     map[string]*closureDir
	files    map[string]*closureFile
}

type refState struct {
	x                  *refIndex
	dirs, files, named map[string]bool
	parsed, bases, ups map[string]bool
	tried              map[[2]string]bool
	whole              string
}

func (st *refState) addPath(p string) {
	if st.whole != "" || st.named[p] {
		return
	}
	st.named[p] = true
	fi, ok := st.x.stat(p)
	if !ok {
		if to := st.x.resolveMissing(p); to != "" {
			st.addPath(to)
		}
		return
	}
	if to := st.x.resolve(p); to != p {
		st.addPath(to)
	}
	if fi {
		st.addDir(p)
	} else {
		st.addFile(p)
	}
}

func (st *refState) addDir(d string) {
	if st.whole != "" || st.dirs[d] {
		return
	}
	st.dirs[d] = true
	st.bases[d] = true
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

func (st *refState) addFile(f string) {
	if st.files[f] {
		return
	}
	st.files[f] = true
	if closureCandidate(path.Base(f)) {
		st.parse(f)
	}
}

func (st *refState) parse(f string) {
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
	st.bases[path.Dir(f)] = true
	for _, u := range e.ups {
		st.ups[u] = true
	}
	for _, c := range e.cands {
		st.addPath(c)
	}
}

func (x *refIndex) stat(p string) (bool, bool) {
	v, ok := x.stats[p]
	if !ok {
		v = -1
		if fi, err := x.src.Stat(p); err == nil {
			if fi.IsDir() {
				v = 2
			} else if fi.Mode().IsRegular() {
				v = 1
			}
		}
		x.stats[p] = v
	}
	return v == 2, v > 0
}

func (x *refIndex) resolve(p string) string {
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

func (x *refIndex) resolveMissing(p string) string {
	for a := path.Dir(p); a != "."; a = path.Dir(a) {
		if _, ok := x.stat(a); ok {
			if to := x.resolve(a); to != a {
				if j, err := source.Join(to, p[len(a)+1:]); err == nil {
					return j
				}
			}
			return ""
		}
	}
	return ""
}

func (x *refIndex) dir(d string) *closureDir {
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

func (x *refIndex) file(f string) *closureFile {
	if e, ok := x.files[f]; ok {
		return e
	}
	e := readClosureFile(x.src, f)
	x.files[f] = &e
	return &e
}
