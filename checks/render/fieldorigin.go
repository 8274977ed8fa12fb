package render

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// Field origins. kustomize says which file an object came from, not which
// kustomization last wrote each of its fields. An overlay's `images:` entry
// or `replicas:` count overrides the base's line, and the line the author
// must change is the overlay's. So every resource keeps its chain: the
// kustomizations (and components) whose transformers ran over it, in the
// order kustomize ran them. Locate walks that chain from the last one back
// and asks, for each kustomization, which of its transformers (in reverse
// of kustomize's own order) sets the field; the first that does is the
// last writer. Only when none does is the source document's line used, and
// when even that does not hold the rendered value the origin is marked
// approximate. The chain is a list of file names computed once per source
// file at render time; the kustomizations are parsed again only when a
// finding asks (Locate), so a render without findings pays nothing.

// chainFor returns the kustomization files whose transformers apply to an
// object that came from file (a resource file, or the kustomization whose
// generator made it), in the order kustomize applies them.
func (lc *locContext) chainFor(file string) []string {
	if c, ok := lc.chains[file]; ok {
		return c
	}
	c, ok := lc.g.chain(lc.env.Path, file, map[string]bool{})
	if !ok {
		// Not found through the graph (a memoised subtree, a file read
		// some other way): every kustomization that can reach the file.
		c = nil
		for _, dir := range lc.g.order {
			if reachable(lc.g.reach[dir], file) {
				c = append(c, lc.g.byDir[dir].File)
			}
		}
	}
	if lc.chains == nil {
		lc.chains = map[string][]string{}
	}
	lc.chains[file] = c
	return c
}

// chain is chainFor below dir: the base that holds file, then the
// components dir lists (each applies to everything accumulated before it),
// then dir itself (generators and transformers).
func (g *graph) chain(dir, file string, seen map[string]bool) ([]string, bool) {
	k := g.byDir[dir]
	if k == nil || seen[dir] {
		return nil, false
	}
	seen[dir] = true
	defer delete(seen, dir)
	comps := componentDirs(k)
	var out []string
	found := g.owns(k, file)
	if !found {
		for _, b := range k.Bases {
			if slices.Contains(comps, b) {
				continue
			}
			if sub, ok := g.chain(b, file, seen); ok {
				out, found = sub, true
				break
			}
		}
	}
	for _, c := range comps {
		if found {
			out = append(out, g.component(c, seen)...)
			continue
		}
		if sub, ok := g.chain(c, file, seen); ok {
			out, found = append(out, sub...), true
		}
	}
	if !found {
		return nil, false
	}
	return append(out, k.File), true
}

// component lists a component applied to objects it did not create: its
// own components, then itself.
func (g *graph) component(dir string, seen map[string]bool) []string {
	k := g.byDir[dir]
	if k == nil || seen[dir] {
		return nil
	}
	seen[dir] = true
	defer delete(seen, dir)
	var out []string
	for _, c := range componentDirs(k) {
		out = append(out, g.component(c, seen)...)
	}
	return append(out, k.File)
}

func componentDirs(k *Kustomization) []string {
	var out []string
	for _, it := range seqItems(child(k.Root, "components")) {
		if p, err := source.Join(k.Dir, strings.TrimSpace(it.Value)); err == nil && slices.Contains(k.Bases, p) {
			out = append(out, p)
		}
	}
	return out
}

// owns reports whether k itself brings in objects of file: one of its
// resources, its own generators, or a chart it inflates (resources are
// joined once per graph: chain asks for every kustomization on the way to
// every file).
func (g *graph) owns(k *Kustomization, file string) bool {
	if file == k.File {
		return true
	}
	if path.Dir(file) == k.Dir && strings.HasPrefix(path.Base(file), virtualPrefix) {
		return true
	}
	set, ok := g.resFiles[k.Dir]
	if !ok {
		set = map[string]bool{}
		for _, it := range seqItems(child(k.Root, "resources")) {
			if p, err := source.Join(k.Dir, strings.TrimSpace(it.Value)); err == nil {
				set[p] = true
			}
		}
		if g.resFiles == nil {
			g.resFiles = map[string]map[string]bool{}
		}
		g.resFiles[k.Dir] = set
	}
	return set[file]
}

// kustRoot parses (once per Result) the kustomization file kf.
func (r *Result) kustRoot(kf string) *yaml.Node {
	if r.src == nil {
		return nil
	}
	docs, err := r.docs.get(r.src, kf)
	if err != nil || len(docs) == 0 || docs[0].Node.Kind != yaml.MappingNode {
		return nil
	}
	return docs[0].Node
}

// lookup returns the rendered value at fieldPath and whether it exists.
func lookup(obj any, fieldPath []string) (any, bool) {
	cur := obj
	for _, seg := range fieldPath {
		switch t := cur.(type) {
		case map[string]any:
			v, ok := t[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			cur = t[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func at(o checks.Origin, file string, n *yaml.Node) checks.Origin {
	if n == nil {
		return o
	}
	return checks.Origin{File: file, Line: n.Line}
}

// fromKustomization returns the line in kustomization kf that sets the
// field, checking its transformers in reverse of the order kustomize runs
// them (replacements last, patches first), then its generators.
func (r *Result) fromKustomization(info *locInfo, kf string, res *checks.Resource, fp []string, val any, present bool) (checks.Origin, bool) {
	root := r.kustRoot(kf)
	if root == nil {
		return checks.Origin{}, false
	}
	dir := path.Dir(kf)
	// replacements
	if present {
		if o, ok := r.fromReplacements(root, kf, dir, res, fp); ok {
			return o, true
		}
	}
	if o, ok := fromTransformers(root, kf, res, fp, val, present); ok {
		return o, true
	}
	// patches (the last patch of the kustomization first)
	for i := len(info.Patches) - 1; i >= 0; i-- {
		p := info.Patches[i]
		if p.Kust != kf {
			continue
		}
		if o, ok := r.fromPatch(p, res, fp); ok {
			return o, true
		}
	}
	// generators
	if res.ID.Kind == "ConfigMap" || res.ID.Kind == "Secret" {
		if o, ok := r.fromGenerators(root, kf, dir, res, fp); ok {
			return o, true
		}
	}
	return checks.Origin{}, false
}

// fromTransformers finds the line of kf's transformer that set the field
// fp of res: images, replicas, commonAnnotations, labels and commonLabels,
// nameSuffix and namePrefix, namespace.
func fromTransformers(root *yaml.Node, kf string, res *checks.Resource, fp []string, val any, present bool) (checks.Origin, bool) {
	n := len(fp)
	last := ""
	if n > 0 {
		last = fp[n-1]
	}
	// images
	if last == "image" && present {
		if img, ok := val.(string); ok {
			name := imageName(img)
			for _, it := range slices.Backward(seqItems(child(root, "images"))) {
				want := scalar(it, "newName")
				if want == "" {
					want = scalar(it, "name")
				}
				if want == "" || name != want {
					continue
				}
				for _, key := range []string{"newTag", "digest", "newName", "name"} {
					if kn := keyNode(it, key); kn != nil {
						return checks.Origin{File: kf, Line: kn.Line}, true
					}
				}
			}
		}
	}
	// replicas
	if n == 2 && fp[0] == "spec" && fp[1] == "replicas" {
		for _, it := range slices.Backward(seqItems(child(root, "replicas"))) {
			if nm := scalar(it, "name"); nm != "" && strings.Contains(res.ID.Name, nm) {
				kn := keyNode(it, "count")
				if kn == nil {
					kn = it
				}
				return checks.Origin{File: kf, Line: kn.Line}, true
			}
		}
	}
	// commonAnnotations
	if n >= 3 && fp[n-2] == "annotations" {
		if kn := keyNode(child(root, "commonAnnotations"), last); kn != nil {
			return checks.Origin{File: kf, Line: kn.Line}, true
		}
	}
	// labels, commonLabels
	if n >= 3 && (fp[n-2] == "labels" || fp[n-2] == "matchLabels") {
		meta := n == 3 && fp[0] == "metadata"
		template := slices.Contains(fp, "template")
		for _, it := range slices.Backward(seqItems(child(root, "labels"))) {
			kn := keyNode(child(it, "pairs"), last)
			if kn == nil {
				continue
			}
			if meta || scalar(it, "includeSelectors") == "true" || template && scalar(it, "includeTemplates") == "true" {
				return checks.Origin{File: kf, Line: kn.Line}, true
			}
		}
		if kn := keyNode(child(root, "commonLabels"), last); kn != nil {
			return checks.Origin{File: kf, Line: kn.Line}, true
		}
	}
	// nameSuffix, namePrefix
	if n == 2 && fp[0] == "metadata" && fp[1] == "name" {
		if s := scalar(root, "nameSuffix"); s != "" && strings.HasSuffix(res.ID.Name, s) {
			return at(checks.Origin{}, kf, keyNode(root, "nameSuffix")), true
		}
		if s := scalar(root, "namePrefix"); s != "" && strings.HasPrefix(res.ID.Name, s) {
			return at(checks.Origin{}, kf, keyNode(root, "namePrefix")), true
		}
	}
	// namespace
	if last == "namespace" && (n == 2 && fp[0] == "metadata" || fp[0] == "subjects") {
		if ns := scalar(root, "namespace"); ns != "" && ns == fmt.Sprint(val) {
			return at(checks.Origin{}, kf, keyNode(root, "namespace")), true
		}
	}
	return checks.Origin{}, false
}

// fromPatch is the line of patch p that sets the field, if it does.
func (r *Result) fromPatch(p patchLoc, res *checks.Resource, fp []string) (checks.Origin, bool) {
	want := jsonPointer(fp)
	for _, op := range p.Ops {
		if op.Path != "" && (op.Path == want || strings.HasPrefix(want, op.Path+"/")) {
			return checks.Origin{File: p.File, Line: op.Line}, true
		}
	}
	if len(p.Ops) > 0 {
		return checks.Origin{}, false
	}
	if doc := r.patchNode(p); doc != nil {
		if n, full := walk(doc, fp, res.Object); full && n != nil {
			return checks.Origin{File: p.File, Line: n.Line + p.Offset}, true
		}
	}
	return checks.Origin{}, false
}

// jsonPointer writes a field path as RFC 6901 does ("/" and "~" escaped).
func jsonPointer(fp []string) string {
	var b strings.Builder
	for _, s := range fp {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(s))
	}
	return b.String()
}

// imageName strips the tag and digest from an image reference.
func imageName(img string) string {
	if i := strings.IndexByte(img, '@'); i >= 0 {
		img = img[:i]
	}
	if i := strings.LastIndexByte(img, ':'); i >= 0 && !strings.Contains(img[i:], "/") {
		img = img[:i]
	}
	return img
}

// fromGenerators finds the generator entry (and key) of kf that made or
// merged into a generated ConfigMap or Secret.
func (r *Result) fromGenerators(root *yaml.Node, kf, dir string, res *checks.Resource, fp []string) (checks.Origin, bool) {
	key := "configMapGenerator"
	if res.ID.Kind == "Secret" {
		key = "secretGenerator"
	}
	n := len(fp)
	var entry *yaml.Node
	best := ""
	for _, it := range seqItems(child(root, key)) {
		nm := scalar(it, "name")
		if nm != "" && strings.Contains(res.ID.Name, nm) && len(nm) >= len(best) {
			entry, best = it, nm
		}
	}
	if entry == nil {
		return checks.Origin{}, false
	}
	if n == 2 && (fp[0] == "data" || fp[0] == "binaryData" || fp[0] == "stringData") {
		k := fp[1]
		for _, l := range slices.Backward(seqItems(child(entry, "literals"))) {
			if strings.HasPrefix(strings.TrimSpace(l.Value), k+"=") {
				return checks.Origin{File: kf, Line: l.Line}, true
			}
		}
		for _, f := range slices.Backward(seqItems(child(entry, "files"))) {
			v := strings.TrimSpace(f.Value)
			if strings.HasPrefix(v, k+"=") || !strings.Contains(v, "=") && path.Base(v) == k {
				return checks.Origin{File: kf, Line: f.Line}, true
			}
		}
		envs := seqItems(child(entry, "envs"))
		if e := child(entry, "env"); e != nil && e.Value != "" {
			envs = append(envs, e)
		}
		for _, e := range slices.Backward(envs) {
			ef, err := source.Join(dir, strings.TrimSpace(e.Value))
			if err != nil {
				continue
			}
			if line := envLine(r.src, ef, k); line > 0 {
				return checks.Origin{File: ef, Line: line}, true
			}
		}
	}
	if n == 3 && fp[0] == "metadata" && (fp[1] == "labels" || fp[1] == "annotations") {
		if kn := keyNode(child(child(entry, "options"), fp[1]), fp[2]); kn != nil {
			return checks.Origin{File: kf, Line: kn.Line}, true
		}
		if kn := keyNode(child(child(root, "generatorOptions"), fp[1]), fp[2]); kn != nil {
			return checks.Origin{File: kf, Line: kn.Line}, true
		}
	}
	if n >= 1 && (fp[0] == "immutable" || fp[0] == "type") {
		if kn := keyNode(entry, fp[0]); kn != nil {
			return checks.Origin{File: kf, Line: kn.Line}, true
		}
		if kn := keyNode(child(entry, "options"), fp[0]); kn != nil {
			return checks.Origin{File: kf, Line: kn.Line}, true
		}
	}
	if n >= 1 && fp[0] == "metadata" {
		return checks.Origin{}, false
	}
	if n == 2 && (fp[0] == "data" || fp[0] == "binaryData" || fp[0] == "stringData") {
		// A key the entry does not list by name: the entry is the writer.
		if scalar(entry, "behavior") == "merge" || scalar(entry, "behavior") == "replace" {
			return checks.Origin{File: kf, Line: entry.Line, Approximate: true}, true
		}
	}
	return checks.Origin{}, false
}

// envLine is the line of key in a KEY=value env file, 0 when absent.
func envLine(src source.Source, file, key string) int {
	if src == nil {
		return 0
	}
	b, err := src.ReadFile(file)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for i := 1; sc.Scan(); i++ {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, key+"=") || l == key {
			return i
		}
	}
	return 0
}
