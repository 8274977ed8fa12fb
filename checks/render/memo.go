package render

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
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

type memoCtxKey struct{}

// withMemo returns ctx carrying m (nil switches sharing off). RenderAll
// sets it; a single Render never shares.
func withMemo(ctx context.Context, m *memo) context.Context {
	return context.WithValue(ctx, memoCtxKey{}, m)
}

func memoFrom(ctx context.Context) *memo {
	m, _ := ctx.Value(memoCtxKey{}).(*memo)
	return m
}

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
	found map[string]string
}

type scanned struct {
	k   *Kustomization
	err error
}

func newMemo(r *Renderer, src source.Source) *memo {
	return &memo{r: r, src: src, docs: newDocCache(r.opts.Limits), subs: map[string]*subtree{}, scans: map[string]scanned{}, found: map[string]string{}}
}

// over returns the virtual files src serves over the memo's source (a
// Flux Kustomization's generated or edited kustomization), and ok false
// when src is not the memo's source at all: then nothing is shared.
func (m *memo) over(src source.Source) (files map[string][]byte, ok bool) {
	if src == m.src {
		return nil, true
	}
	if ov, isOv := src.(overlay); isOv {
		if under, files := ov.overlayOf(); under == m.src {
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
		f = FindKustomization(src, dir)
		m.mu.Lock()
		m.found[dir] = f
		m.mu.Unlock()
	}
	return f
}

// scan is ScanKustomization, once per file. src is the memo's source:
// only RenderAll puts a memo in the context, for the source it renders.
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
		s.k, s.err = ScanKustomization(m.src, file, lim)
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

// Fields a shared subtree's kustomizations may use: what acts only on the
// subtree's own objects.
var memoSubtreeKeys = keySet("apiVersion", "kind", "metadata", "resources", "components", "namespace",
	"commonLabels", "labels", "commonAnnotations", "images", "replicas", "patches", "patchesStrategicMerge",
	"patchesJson6902", "configMapGenerator", "secretGenerator", "generatorOptions", "replacements")

// Fields the kustomizations around shared subtrees may use: what acts on
// objects the same way whether they were built here or read from a file.
// (helmCharts are rendered by gate into resource files before kustomize
// runs.)
var memoOutsideKeys = keySet("apiVersion", "kind", "metadata", "resources", "bases", "components", "namespace",
	"commonLabels", "labels", "commonAnnotations", "images", "replicas", "patches", "patchesStrategicMerge",
	"patchesJson6902", "configMapGenerator", "secretGenerator", "generatorOptions", "helmCharts", "helmGlobals", "sortOptions")

func keySet(ks ...string) map[string]bool {
	m := make(map[string]bool, len(ks))
	for _, k := range ks {
		m[k] = true
	}
	return m
}

func keysWithin(k *Kustomization, allowed map[string]bool) bool {
	if k.Root == nil || k.Root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(k.Root.Content); i += 2 {
		if !allowed[k.Root.Content[i].Value] {
			return false
		}
	}
	return true
}

// plainKindRe is a kind that is not a pattern (patch targets are regexps).
var plainKindRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)

func kindSafe(kind string) bool {
	return plainKindRe.MatchString(kind) && kind != "ConfigMap" && kind != "Secret"
}

// patchesSafe reports whether every patch of an outside kustomization
// targets a known kind other than ConfigMap and Secret (whose content
// decides the hash a subtree's generators computed).
func patchesSafe(src source.Source, k *Kustomization, docs *docCache, lim Limits) bool {
	bodyKinds := func(it *yaml.Node) bool {
		var ds []Doc
		var err error
		if p := scalar(it, "path"); p != "" {
			f, jerr := source.Join(k.Dir, strings.TrimSpace(p))
			if jerr != nil {
				return false
			}
			ds, err = docs.get(src, f)
		} else if it.Kind == yaml.ScalarNode {
			v := strings.TrimSpace(it.Value)
			if strings.Contains(v, "\n") || strings.Contains(v, ":") && !strings.HasSuffix(v, ".yaml") && !strings.HasSuffix(v, ".yml") {
				ds, err = ParseDocs(k.File, []byte(it.Value), lim)
			} else {
				f, jerr := source.Join(k.Dir, v)
				if jerr != nil {
					return false
				}
				ds, err = docs.get(src, f)
			}
		} else if inl := scalar(it, "patch"); inl != "" {
			ds, err = ParseDocs(k.File, []byte(inl), lim)
		}
		if err != nil || len(ds) == 0 {
			return false
		}
		for _, d := range ds {
			if d.Node == nil || d.Node.Kind != yaml.MappingNode || !kindSafe(d.Kind) {
				return false
			}
		}
		return true
	}
	for _, key := range []string{"patches", "patchesJson6902", "patchesStrategicMerge"} {
		for _, it := range seqItems(child(k.Root, key)) {
			if t := child(it, "target"); t != nil {
				if !kindSafe(scalar(t, "kind")) {
					return false
				}
				continue
			}
			if key == "patchesJson6902" || !bodyKinds(it) {
				return false
			}
		}
	}
	return true
}

// generatorNames lists "Kind/name" of k's generators; ok is false when
// one merges into or replaces an object built elsewhere.
func generatorNames(k *Kustomization) (names []string, createOnly bool) {
	createOnly = true
	for key, kind := range map[string]string{"configMapGenerator": "ConfigMap", "secretGenerator": "Secret"} {
		for _, it := range seqItems(child(k.Root, key)) {
			if b := scalar(it, "behavior"); b != "" && b != "create" {
				createOnly = false
			}
			names = append(names, kind+"/"+scalar(it, "name"))
		}
	}
	return names, createOnly
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
		return nil
	}
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
				return nil
			}
			p.inside[d] = true
			if !addNames(g.byDir[d], mem) {
				return nil
			}
		}
	}
	for d := range outside {
		if !addNames(g.byDir[d], "") {
			return nil
		}
	}
	sort.Strings(p.members)
	for _, mem := range p.members {
		st := m.subtree(ctx, g, mem)
		if !st.ok {
			return nil
		}
		p.subs[mem] = st
		for _, n := range st.renamed {
			p.renamed[n] = true
		}
	}
	// Locating a finding reads the members' parsed sources from the
	// environment's cache, as after an ordinary build. Parsed documents
	// are never changed, so they are shared, not copied.
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
	return p
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
	fsys := newKFS(m.src)
	// The same limits as an environment's own render: a file that breaks
	// them makes the environment render the ordinary way and report it.
	for _, d := range sub.order {
		k := sub.byDir[d]
		fsys.record(k.File)
		inputs := generatorInputs(k)
		for _, f := range k.Files {
			if inputs[f] || !isYAMLFile(f) {
				continue
			}
			if _, err := m.docs.get(m.src, f); err != nil {
				return err
			}
		}
	}
	if err := markSources(m.src, sub, m.docs, fsys, nil); err != nil {
		return err
	}
	// The environment's deadline bounds the build, as it bounds its own.
	type built struct {
		rm  resmap.ResMap
		err error
	}
	ch := make(chan built, 1)
	initKustomize()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- built{err: fmt.Errorf("kustomize panicked: %v", p)}
			}
		}()
		rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, "/"+dir)
		ch <- built{rm, err}
	}()
	var b built
	select {
	case b = <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	if b.err != nil {
		return b.err
	}
	rm := b.rm
	st.out, err = rm.AsYaml()
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

// outside returns the directories of order that are not below a member.
func (p *memoPlan) outside(order []string) []string {
	if p == nil {
		return order
	}
	var out []string
	for _, d := range order {
		if !p.inside[d] {
			out = append(out, d)
		}
	}
	return out
}

// outsideGraph is g without the members' kustomizations.
func (p *memoPlan) outsideGraph(g *graph) *graph {
	if p == nil {
		return g
	}
	og := &graph{byDir: map[string]*Kustomization{}, reach: g.reach}
	for _, d := range p.outside(g.order) {
		og.byDir[d] = g.byDir[d]
		og.order = append(og.order, d)
	}
	return og
}

// apply puts each member's output in fsys as a resource file next to the
// kustomization that includes it, in place of the directory.
func (p *memoPlan) apply(g *graph, fsys *kfs) error {
	if p == nil {
		return nil
	}
	n := 0
	for _, dir := range p.outside(g.order) {
		k := g.byDir[dir]
		if hasFolded(k.Root) {
			// yaml.v3 does not write folded scalars back byte for byte.
			return errMemoMiss
		}
		var root *yaml.Node
		for _, it := range seqItems(child(k.Root, "resources")) {
			b, err := source.Join(k.Dir, strings.TrimSpace(it.Value))
			if err != nil || p.subs[b] == nil {
				continue
			}
			if root == nil {
				root = deepCopy(k.Root)
				if prev, ok := fsys.overrides[k.File]; ok {
					// Already rewritten (helmCharts): edit that.
					var doc yaml.Node
					if err := yaml.Unmarshal(prev, &doc); err != nil || len(doc.Content) != 1 {
						return fmt.Errorf("re-read rewritten %s: %v", k.File, err)
					}
					root = doc.Content[0]
				}
			}
			vname := fmt.Sprintf("%s%d.yaml", memoPrefix, n)
			n++
			fsys.overrides[path.Join(k.Dir, vname)] = p.subs[b].out
			replaceSeqValue(child(root, "resources"), it.Value, vname)
		}
		if root != nil {
			b, err := yaml.Marshal(root)
			if err != nil {
				return fmt.Errorf("rewrite kustomization: %w", err)
			}
			fsys.overrides[k.File] = b
		}
	}
	return nil
}

func hasFolded(n *yaml.Node) bool {
	if n == nil {
		return false
	}
	if n.Style&yaml.FoldedStyle != 0 {
		return true
	}
	for _, c := range n.Content {
		if hasFolded(c) {
			return true
		}
	}
	return false
}

func replaceSeqValue(seq *yaml.Node, old, repl string) {
	for _, it := range seqItems(seq) {
		if it.Kind == yaml.ScalarNode && it.Value == old {
			it.Value = repl
			it.Style = 0
			it.Tag = "!!str"
			return
		}
	}
}

// reads adds the members' reads to the environment's own.
func (p *memoPlan) reads(own []string) []string {
	if p == nil {
		return own
	}
	set := map[string]bool{}
	for _, f := range own {
		set[f] = true
	}
	for _, st := range p.subs {
		for _, f := range st.reads {
			set[f] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// stale reports whether a rendered object still holds a name a member
// renamed: a reference kustomize would have rewritten in a whole build.
func (p *memoPlan) stale(v any) bool {
	if p == nil || len(p.renamed) == 0 {
		return false
	}
	switch t := v.(type) {
	case string:
		return p.renamed[t]
	case map[string]any:
		for _, x := range t {
			if p.stale(x) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if p.stale(x) {
				return true
			}
		}
	}
	return false
}
