package render

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"

	"github.com/gate-ops/gate/checks/source"
)

// Shared subtrees. In an ops repo the environments are thin: each picks
// apps from a catalog of bases and overlays. Rendering every environment
// from scratch builds the same app overlay again for every environment
// that uses it, and that was most of a 50-environment render. RenderAll
// therefore builds each such kustomization once, with kustomize, and hands
// its output to every environment that includes it, as a resource file in
// place of the directory.
//
// That is only the same as kustomize's own build when nothing above the
// subtree could have seen what the rendered output hides: the names the
// subtree's objects had before its generators hashed them, its variables
// and transformer configuration, and the hash a top-level build computes
// after every transformer. So a subtree is shared only when it and every
// kustomization above or beside it stay within short allow-lists of
// fields (memoSubtreeKeys, memoOutsideKeys), the patches outside it cannot
// touch a ConfigMap or Secret, no generator name is used on both sides,
// and, after the build, no rendered value still names an object the
// subtree renamed (a reference kustomize would have rewritten). Anything
// else, and any error, renders the environment the ordinary way, so
// findings and error messages are the same either way.

// memoPrefix names the virtual resource files that stand for a subtree.
const memoPrefix = "__gate_memo_"

// errMemoMiss makes render fall back to an ordinary build of the
// environment.
var errMemoMiss = errors.New("shared subtree not usable for this environment")

// memo holds the subtrees one RenderAll has built, for one source.
type memo struct {
	r    *Renderer
	src  source.Source
	docs *docCache

	mu   sync.Mutex
	subs map[string]*subtree
	// scans are ScanKustomization's results by file: what it returns is
	// never changed after, so environments share them.
	scans map[string]scanned
	// found are FindKustomization's results by directory.
	found map[string]found
}

// Shared results keep the probes that made them (source.Capture) and
// replay them into every render that reuses them, so a render's record
// (Result.Probes) is what it would have probed alone.
type scanned struct {
	k      *Kustomization
	err    error
	probes []source.Probe
}

type found struct {
	file   string
	probes []source.Probe
}

func newMemo(r *Renderer, src source.Source) *memo {
	return &memo{r: r, src: src, docs: newDocCache(r.opts.Limits), subs: map[string]*subtree{}, scans: map[string]scanned{}, found: map[string]found{}}
}

// over returns the virtual files src serves over the memo's source (a
// Flux Kustomization's generated or edited kustomization), and ok false
// when src is not the memo's source at all: then nothing is shared.
func (m *memo) over(src source.Source) (files map[string][]byte, ok bool) {
	if source.Unwrap(src) == m.src {
		return nil, true
	}
	if ov, isOv := src.(overlay); isOv {
		if under, files := ov.overlayOf(); source.Unwrap(under) == m.src {
			return files, true
		}
	}
	return nil, false
}

// overlay is a Source that serves a few virtual files over another: the
// kustomization a Flux Kustomization or an Argo CD Application edits.
type overlay interface {
	overlayOf() (under source.Source, files map[string][]byte)
}

func (o *overlaySrc) overlayOf() (source.Source, map[string][]byte)    { return o.Source, o.files }
func (o *overlaySource) overlayOf() (source.Source, map[string][]byte) { return o.Source, o.files }

// Underlying implements source.Wrapper: probes of shared results replay
// into the record of the render an overlay serves.
func (o *overlaySrc) Underlying() source.Source    { return o.Source }
func (o *overlaySource) Underlying() source.Source { return o.Source }

// overlaid reports whether a path of files is p or lies in directory p.
func overlaid(files map[string][]byte, p string) bool {
	for f := range files {
		if f == p || path.Dir(f) == p {
			return true
		}
	}
	return false
}

// readsAny reports whether k reads one of files.
func readsAny(k *Kustomization, files map[string][]byte) bool {
	if k == nil || len(files) == 0 {
		return false
	}
	for _, f := range k.Files {
		if _, ok := files[f]; ok {
			return true
		}
	}
	return false
}

// find is FindKustomization, once per directory.
func (m *memo) find(src source.Source, dir string) string {
	if m == nil {
		return FindKustomization(src, dir)
	}
	if files, ok := m.over(src); !ok || overlaid(files, dir) {
		return FindKustomization(src, dir)
	}
	m.mu.Lock()
	f, ok := m.found[dir]
	m.mu.Unlock()
	if !ok {
		f.probes = source.Capture(src, func(s source.Source) { f.file = FindKustomization(s, dir) })
		m.mu.Lock()
		m.found[dir] = f
		m.mu.Unlock()
		return f.file
	}
	if !source.AllowsAll(src, f.probes) {
		return FindKustomization(src, dir) // as its confinement answers
	}
	source.Replay(src, f.probes)
	return f.file
}

// scan is ScanKustomization, once per file. src is the memo's source or an
// overlay over it (m.over): a memo is made for the one source a RenderAll
// or FluxTrees works on, and handed down as an argument.
func (m *memo) scan(src source.Source, file string, lim Limits) (*Kustomization, error) {
	if m == nil {
		return ScanKustomization(src, file, lim)
	}
	files, same := m.over(src)
	if !same || overlaid(files, file) {
		return ScanKustomization(src, file, lim)
	}
	m.mu.Lock()
	s, ok := m.scans[file]
	m.mu.Unlock()
	if !ok {
		s.probes = source.Capture(m.src, func(ms source.Source) { s.k, s.err = ScanKustomization(ms, file, lim) })
		m.mu.Lock()
		m.scans[file] = s
		m.mu.Unlock()
	}
	if s.k != nil && len(files) > 0 {
		for _, f := range s.k.Files {
			if _, v := files[f]; v {
				// It reads a virtual file: scan it as src serves it.
				return ScanKustomization(src, file, lim)
			}
		}
	}
	if !source.AllowsAll(src, s.probes) {
		return ScanKustomization(src, file, lim) // as its confinement answers
	}
	source.Replay(src, s.probes)
	return s.k, s.err
}

// subtree is one kustomization directory built on its own.
type subtree struct {
	once sync.Once
	ok   bool
	// out is kustomize's output, objects still carrying sourceMarker.
	out []byte
	// reads are the files the build read.
	reads []string
	// probes are everything the build probed (see scanned).
	probes []source.Probe
	// renamed are names the subtree's objects had in their sources (or
	// generators) and no longer have in out.
	renamed []string
}

// memoPlan is how one environment uses shared subtrees.
type memoPlan struct {
	members []string
	subs    map[string]*subtree
	// inside holds every kustomization directory below a member.
	inside map[string]bool
	// renamed is the union of the members' renamed names.
	renamed map[string]bool
}

// plan decides which subtrees of g this environment takes from the memo,
// building them on first use. nil means render the ordinary way.
func (m *memo) plan(ctx context.Context, src source.Source, g *graph, root string, docs *docCache) *memoPlan {
	if m == nil || g == nil || g.byDir[root] == nil {
		return nil
	}
	over, same := m.over(src)
	if !same {
		return nil
	}
	p, outside := m.members(g, root, docs)
	if p == nil || !p.disjoint(g, outside, over) {
		return nil
	}
	sort.Strings(p.members)
	for _, mem := range p.members {
		st := m.subtree(ctx, g, mem)
		if !st.ok || !source.AllowsAll(src, st.probes) {
			return nil // built alone, as its confinement answers
		}
		p.subs[mem] = st
		source.Replay(src, st.probes)
		for _, n := range st.renamed {
			p.renamed[n] = true
		}
	}
	m.shareDocs(p, g, docs)
	return p
}

// members finds the subtrees root's environment can take from the memo:
// kustomizations included once, through resources, by kustomizations
// whose fields and patches act the same on built and read objects
// (outside), and that use only fields acting on their own objects. nil
// when there are none or an outside kustomization is not safe.
func (m *memo) members(g *graph, root string, docs *docCache) (*memoPlan, map[string]bool) {
	refs := map[string]int{}
	for _, dir := range g.order {
		for _, b := range g.byDir[dir].Bases {
			refs[b]++
		}
	}
	subtreeOK := func(dir string) bool {
		k := g.byDir[dir]
		if k == nil || k.Component || refs[dir] != 1 {
			return false
		}
		for d := range g.reach[dir] {
			s := g.byDir[d]
			if s == nil || len(s.HelmCharts) > 0 || s.UsesOpenAPI || !keysWithin(s, memoSubtreeKeys) {
				return false
			}
		}
		return true
	}
	p := &memoPlan{subs: map[string]*subtree{}, inside: map[string]bool{}, renamed: map[string]bool{}}
	outside := map[string]bool{}
	var walk func(dir string) bool
	walk = func(dir string) bool {
		if outside[dir] {
			return true
		}
		outside[dir] = true
		k := g.byDir[dir]
		if k == nil || !keysWithin(k, memoOutsideKeys) || !patchesSafe(m.src, k, docs, m.r.opts.Limits) {
			return false
		}
		viaResources := map[string]bool{}
		for _, it := range seqItems(child(k.Root, "resources")) {
			if b, err := source.Join(k.Dir, strings.TrimSpace(it.Value)); err == nil {
				viaResources[b] = true
			}
		}
		for _, b := range k.Bases {
			if viaResources[b] && subtreeOK(b) {
				if !p.inside[b] {
					p.members = append(p.members, b)
					p.inside[b] = true
				}
				continue
			}
			if !walk(b) {
				return false
			}
		}
		return true
	}
	if !walk(root) || len(p.members) == 0 {
		return nil, nil
	}
	return p, outside
}

// disjoint fills p.inside with every kustomization below a member, and
// reports whether the members are disjoint from each other and from the
// outside, none holds a virtual file of over, and no generator name is
// shared between two of those groups.
func (p *memoPlan) disjoint(g *graph, outside map[string]bool, over map[string][]byte) bool {
	// Members are disjoint from each other and from the outside, and no
	// generator name is shared between two of those groups.
	group := map[string]string{} // Kind/name -> member ("" outside)
	addNames := func(k *Kustomization, owner string) bool {
		names, createOnly := generatorNames(k)
		if owner == "" && !createOnly {
			return false
		}
		for _, n := range names {
			if o, seen := group[n]; seen && o != owner {
				return false
			}
			group[n] = owner
		}
		return true
	}
	p.inside = map[string]bool{}
	for _, mem := range p.members {
		for d := range g.reach[mem] {
			if p.inside[d] || outside[d] || overlaid(over, d) || readsAny(g.byDir[d], over) {
				// (Members are built from the memo's source: none may
				// hold a virtual file.)
				return false
			}
			p.inside[d] = true
			if !addNames(g.byDir[d], mem) {
				return false
			}
		}
	}
	for d := range outside {
		if !addNames(g.byDir[d], "") {
			return false
		}
	}
	return true
}

// shareDocs puts the members' parsed sources in the environment's cache:
// locating a finding reads them there, as after an ordinary build. Parsed
// documents are never changed, so they are shared, not copied.
func (m *memo) shareDocs(p *memoPlan, g *graph, docs *docCache) {
	for d := range p.inside {
		for _, f := range g.byDir[d].Files {
			if ds := m.docs.cached(f); ds != nil {
				docs.mu.Lock()
				if _, ok := docs.files[f]; !ok {
					docs.files[f] = ds
				}
				docs.mu.Unlock()
			}
		}
	}
}

// subtree returns dir built on its own, building it on first use.
func (m *memo) subtree(ctx context.Context, g *graph, dir string) *subtree {
	m.mu.Lock()
	st := m.subs[dir]
	if st == nil {
		st = &subtree{}
		m.subs[dir] = st
	}
	m.mu.Unlock()
	st.once.Do(func() {
		if err := m.build(ctx, g, dir, st); err != nil {
			m.r.opts.Logger.Debug("subtree not shared", "dir", dir, "err", err)
			st.ok = false
		}
	})
	return st
}

func (m *memo) build(ctx context.Context, g *graph, dir string, st *subtree) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("kustomize panicked: %v", p)
		}
	}()
	sub := &graph{byDir: map[string]*Kustomization{}, reach: g.reach}
	for _, d := range g.order {
		if g.reach[dir][d] {
			sub.byDir[d] = g.byDir[d]
			sub.order = append(sub.order, d)
		}
	}
	// Everything the build probes is replayed into each render using it;
	// the members' files are named too, as parsed documents are shared.
	rec := source.Record(m.src)
	defer func() { st.probes = rec.Probes() }()
	fsys := newKFS(rec)
	// The same limits as an environment's own render: a file that breaks
	// them makes the environment render the ordinary way and report it.
	for _, d := range sub.order {
		k := sub.byDir[d]
		fsys.record(k.File)
		rec.Add([]source.Probe{{Op: source.ProbeFile, Path: k.File}})
		inputs := generatorInputs(k)
		for _, f := range k.Files {
			rec.Add([]source.Probe{{Op: source.ProbeFile, Path: f}})
			if inputs[f] || !isYAMLFile(f) {
				continue
			}
			if _, err := m.docs.get(rec, f); err != nil {
				return err
			}
		}
	}
	if err := markSources(rec, sub, m.docs, fsys, nil); err != nil {
		return err
	}
	// The environment's deadline bounds the build, as it bounds its own.
	initKustomize()
	rm, err := bounded(ctx, "kustomize", func() (resmap.ResMap, error) {
		return krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, "/"+dir)
	})
	if err != nil {
		return err
	}
	st.out, err = resMapYAML(rm)
	if err != nil {
		return err
	}
	st.reads = fsys.Reads()
	st.renamed = renamedIn(rm, sub, m.docs)
	st.ok = true
	return nil
}

// renamedIn lists the names that the subtree's objects had in their source
// documents or generators and that its output no longer uses.
func renamedIn(rm resmap.ResMap, sub *graph, docs *docCache) []string {
	have := map[string]bool{}
	var renamed []string
	for _, r := range rm.Resources() {
		have[r.GetKind()+"/"+r.GetName()] = true
	}
	for _, r := range rm.Resources() {
		marker := r.GetAnnotations()[sourceMarker]
		i := strings.LastIndexByte(marker, '#')
		if i < 0 {
			continue
		}
		var idx int
		if _, err := fmt.Sscan(marker[i+1:], &idx); err != nil {
			continue
		}
		ds := docs.cached(marker[:i])
		if idx < len(ds) && ds[idx].Name != "" && ds[idx].Name != r.GetName() {
			renamed = append(renamed, ds[idx].Name)
		}
	}
	for _, d := range sub.order {
		names, _ := generatorNames(sub.byDir[d])
		for _, n := range names {
			if !have[n] {
				renamed = append(renamed, n[strings.IndexByte(n, '/')+1:])
			}
		}
	}
	return renamed
}

// generatorInputs are the files k's generators read (not YAML objects).
func generatorInputs(k *Kustomization) map[string]bool {
	in := map[string]bool{}
	for _, gen := range []string{"configMapGenerator", "secretGenerator"} {
		for _, it := range seqItems(child(k.Root, gen)) {
			for _, key := range []string{"files", "envs"} {
				for _, f := range seqItems(child(it, key)) {
					ref := f.Value
					if i := strings.Index(ref, "="); i >= 0 {
						ref = ref[i+1:]
					}
					if p, err := source.Join(k.Dir, ref); err == nil {
						in[p] = true
					}
				}
			}
			if e := child(it, "env"); e != nil {
				if p, err := source.Join(k.Dir, e.Value); err == nil {
					in[p] = true
				}
			}
		}
	}
	return in
}
