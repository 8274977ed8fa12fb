package render

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// docCache parses each source file once per render.
type docCache struct {
	lim   Limits
	mu    sync.Mutex
	files map[string][]Doc
}

func newDocCache(lim Limits) *docCache { return &docCache{lim: lim, files: map[string][]Doc{}} }

func (c *docCache) get(src source.Source, file string) ([]Doc, error) {
	c.mu.Lock()
	d, ok := c.files[file]
	c.mu.Unlock()
	if ok {
		return d, nil
	}
	b, err := src.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return c.parse(file, b)
}

func (c *docCache) parse(file string, b []byte) ([]Doc, error) {
	d, err := ParseDocs(file, b, c.lim)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.files[file] = d
	c.mu.Unlock()
	return d, nil
}

func (c *docCache) cached(file string) []Doc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files[file]
}

// locInfo is what Locate needs for one resource: references to its source
// document and to the patches that touched it. They are references (file
// and document index), not parsed nodes, so a cached render can locate
// lines too: the documents are parsed again only when a finding asks.
type locInfo struct {
	File string `json:"file"`
	// Doc is the index in ParseDocs(File) of the source document; -1 when
	// the line is only known as a whole (generated output).
	Doc int `json:"doc"`
	// Item is 1 + the index inside a List document's items, 0 otherwise.
	Item    int        `json:"item,omitempty"`
	Patches []patchLoc `json:"patches,omitempty"`
	// Chain lists the kustomization files whose transformers ran over the
	// object, in kustomize's order (see fieldorigin.go).
	Chain []string `json:"chain,omitempty"`
	// Values are the values sources of a Helm-rendered resource (argo_locate.go).
	Values []valuesLoc `json:"values,omitempty"`
	// FluxValues are the scalars a Flux HelmRelease's values set, with
	// their lines (fluxhelm.go): the fallback when the template does not
	// name the value.
	FluxValues []valueLoc `json:"fluxValues,omitempty"`
}

type patchLoc struct {
	File string `json:"file"`
	// Kust is the kustomization that applies the patch.
	Kust string `json:"kust,omitempty"`
	// Doc indexes ParseDocs(File), or ParseDocs(Inline) for inline patches.
	Doc    int    `json:"doc"`
	Inline string `json:"inline,omitempty"`
	// Offset is added to node lines (inline patches inside a kustomization).
	Offset int      `json:"offset,omitempty"`
	Ops    []jsonOp `json:"ops,omitempty"` // JSON 6902 operations
	Line   int      `json:"line"`          // the patch entry's line
}

type jsonOp struct {
	Path string `json:"path"`
	Line int    `json:"line"`
}

func (l *locInfo) patchOrigins() []checks.Origin {
	if l == nil {
		return nil
	}
	var out []checks.Origin
	for _, p := range l.Patches {
		out = append(out, checks.Origin{File: p.File, Line: p.Line})
	}
	return out
}

func docIndex(docs []Doc, d *Doc) int {
	for i := range docs {
		if &docs[i] == d {
			return i
		}
	}
	return -1
}

type locContext struct {
	src  source.Source
	env  checks.Env
	g    *graph
	docs *docCache
	helm map[string][]helmDoc
	// helmValues are the values sources of each virtual chart output file.
	helmValues map[string][]valuesLoc
	// chains caches chainFor by source file.
	chains map[string][]string
}

type originAnn struct {
	Path         string `json:"path"`
	ConfiguredIn string `json:"configuredIn"`
	ConfiguredBy struct {
		Kind string `json:"kind"`
	} `json:"configuredBy"`
}

// origin resolves kustomize's origin annotation to a file and line, and
// finds the patches that apply to the resource.
func (lc *locContext) origin(r *checks.Resource, ann string) (checks.Origin, *locInfo) {
	info := &locInfo{Doc: -1}
	var oa originAnn
	_ = sigsyaml.Unmarshal([]byte(ann), &oa)
	var o checks.Origin
	switch {
	case oa.Path != "":
		file, err := source.Join(lc.env.Path, oa.Path)
		if err != nil {
			file = lc.env.Path
		}
		o = checks.Origin{File: file, Line: 1}
		docs := lc.docs.cached(file)
		if docs == nil {
			docs, _ = lc.docs.get(lc.src, file)
		}
		info.Chain = lc.chainFor(file)
		if d := matchDoc(docs, r.ID.Kind, r.ID.Name); d != nil {
			o.Line = d.Line
			info.Doc = docIndex(docs, d)
			if hd, ok := lc.helm[file]; ok {
				// Generated chart output: point at the template.
				if idx := info.Doc; idx >= 0 && idx < len(hd) {
					o = checks.Origin{File: hd[idx].Template, Line: helmLine(lc.src, hd[idx].Template, *d)}
				}
				info.Doc = -1
				info.Values = lc.helmValues[file]
			}
		}
		info.File = o.File
	case oa.ConfiguredIn != "" && strings.HasSuffix(oa.ConfiguredBy.Kind, "Generator"):
		file, err := source.Join(lc.env.Path, oa.ConfiguredIn)
		if err != nil {
			file = lc.env.Path
		}
		o = checks.Origin{File: file, Line: 1}
		info.Chain = lc.chainFor(file)
		if k := lc.g.byDir[path.Dir(file)]; k != nil {
			key := "configMapGenerator"
			if strings.HasPrefix(oa.ConfiguredBy.Kind, "Secret") {
				key = "secretGenerator"
			}
			best := ""
			for _, it := range seqItems(child(k.Root, key)) {
				n := scalar(it, "name")
				if n != "" && strings.Contains(r.ID.Name, n) && len(n) > len(best) {
					best = n
					if kn := keyNode(it, "name"); kn != nil {
						o.Line = kn.Line
					} else {
						o.Line = it.Line
					}
				}
			}
		}
		info.File = o.File
	default:
		// A patch replaced metadata.annotations and took kustomize's origin
		// with it: search every source document the build read.
		o = checks.Origin{File: lc.g.byDir[lc.env.Path].File}
		for _, dir := range lc.g.order {
			for _, f := range lc.g.byDir[dir].Files {
				docs := lc.docs.cached(f)
				if d := matchDoc(docs, r.ID.Kind, r.ID.Name); d != nil && (d.Name != "" && strings.Contains(r.ID.Name, d.Name)) {
					o = checks.Origin{File: f, Line: d.Line}
					info.Doc = docIndex(docs, d)
				}
			}
		}
		info.File = o.File
		if o.File != "" {
			info.Chain = lc.chainFor(o.File)
		}
	}
	info.Patches = lc.patchesFor(r, info.Chain)
	return o, info
}

// matchDoc picks the source document a rendered object came from: same kind,
// and the longest source name contained in the rendered name (prefixes,
// suffixes and hashes only add to names).
func matchDoc(docs []Doc, kind, name string) *Doc {
	var best *Doc
	for i := range docs {
		d := &docs[i]
		if d.Kind != kind {
			continue
		}
		if d.Name == name {
			return d
		}
		if d.Name != "" && strings.Contains(name, d.Name) && (best == nil || len(d.Name) > len(best.Name)) {
			best = d
		}
	}
	if best == nil {
		for i := range docs {
			if docs[i].Kind == kind {
				return &docs[i]
			}
		}
	}
	return best
}

// patchesFor lists the patches of every kustomization of the resource's
// chain that target the resource, in the order kustomize applies them.
func (lc *locContext) patchesFor(r *checks.Resource, chain []string) []patchLoc {
	var out []patchLoc
	for _, kf := range chain {
		k := lc.g.byDir[path.Dir(kf)]
		if k == nil {
			continue
		}
		for _, pr := range k.Patches {
			for _, pl := range lc.patchLocs(r, pr) {
				pl.Kust = kf
				out = append(out, pl)
			}
		}
	}
	return out
}

func reachable(reach map[string]bool, file string) bool {
	for d := path.Dir(file); ; d = path.Dir(d) {
		if reach[d] {
			return true
		}
		if d == "." || d == "/" {
			return false
		}
	}
}

func (lc *locContext) patchLocs(r *checks.Resource, pr PatchRef) []patchLoc {
	if pr.Target != nil && !pr.Target.selects(r) {
		return nil
	}
	var docs []Doc
	offset := 0
	if pr.Inline != "" {
		d, err := ParseDocs(pr.File, []byte(pr.Inline), lc.docs.lim)
		if err != nil {
			return nil
		}
		docs, offset = d, pr.Line
	} else {
		d, err := lc.docs.get(lc.src, pr.File)
		if err != nil {
			return nil
		}
		docs = d
	}
	var out []patchLoc
	for i, d := range docs {
		if d.Node.Kind == yaml.SequenceNode {
			// JSON 6902 operations.
			if pr.Target == nil {
				continue
			}
			pl := patchLoc{File: pr.File, Doc: i, Offset: offset, Line: pr.Line}
			for _, op := range d.Node.Content {
				// The op's path line names the field it writes.
				line := op.Line
				if kn := keyNode(op, "path"); kn != nil {
					line = kn.Line
				}
				pl.Ops = append(pl.Ops, jsonOp{Path: scalar(op, "path"), Line: line + offset})
			}
			if pr.Inline == "" && len(pl.Ops) > 0 {
				pl.Line = pl.Ops[0].Line
			}
			out = append(out, pl)
			continue
		}
		if pr.Target == nil {
			if d.Kind != r.ID.Kind || d.Name == "" || !strings.Contains(r.ID.Name, d.Name) {
				continue
			}
		}
		line := pr.Line
		if pr.Inline == "" {
			line = d.Line
		} else {
			line = d.Line + offset
		}
		out = append(out, patchLoc{File: pr.File, Doc: i, Inline: pr.Inline, Offset: offset, Line: line})
	}
	return out
}

// selects reports whether a patch target selects the rendered object.
// kustomize matches names against the object's name at the time the patch
// runs, before later prefixes and suffixes: a name that matches the
// rendered name, or is contained in it, selects it. Selectors are matched
// against the rendered labels and annotations.
func (t *PatchTarget) selects(r *checks.Resource) bool {
	match := func(pattern, v string, contains bool) bool {
		if pattern == "" {
			return true
		}
		if regexp.QuoteMeta(pattern) == pattern {
			// A literal: the anchored pattern matches only itself.
			return v == pattern || contains && strings.Contains(v, pattern)
		}
		if re, err := regexp.Compile("^(?:" + pattern + ")$"); err == nil && re.MatchString(v) {
			return true
		}
		return contains && strings.Contains(v, pattern)
	}
	if !match(t.Group, r.ID.Group, false) || !match(t.Version, r.ID.Version, false) || !match(t.Kind, r.ID.Kind, false) ||
		!match(t.Name, r.ID.Name, true) || !match(t.Namespace, r.ID.Namespace, true) {
		return false
	}
	meta, _ := r.Object["metadata"].(map[string]any)
	for _, s := range []struct{ sel, field string }{{t.LabelSelector, "labels"}, {t.AnnotationSelector, "annotations"}} {
		if s.sel == "" {
			continue
		}
		sel, err := labels.Parse(s.sel)
		if err != nil {
			return false
		}
		set := labels.Set{}
		m, _ := meta[s.field].(map[string]any)
		for k, v := range m {
			set[k] = fmt.Sprint(v)
		}
		if !sel.Matches(set) {
			return false
		}
	}
	return true
}

// Locate implements checks.Locator: the line that last set a field. The
// kustomizations of the object's chain are asked last one first (see
// fieldorigin.go); then the source document. When the line found does not
// hold the rendered value, the origin says it is approximate.
func (r *Result) Locate(res *checks.Resource, fieldPath []string) checks.Origin {
	info := r.loc[res]
	if info == nil {
		return res.Origin
	}
	val, present := lookup(res.Object, fieldPath)
	if !present && len(fieldPath) > 0 {
		// A field the rendered object lacks lands on its nearest present
		// ancestor: where to add it, but not a line holding it. An
		// ancestor the source document lacks lands where it was last set
		// (a container an overlay's patch added lands on the patch, not on
		// the base's containers: line it was merged into).
		anc := fieldPath[:len(fieldPath)-1]
		for len(anc) > 0 {
			if _, ok := lookup(res.Object, anc); ok {
				break
			}
			anc = anc[:len(anc)-1]
		}
		if len(anc) > 0 {
			// The ancestor is in the object's own source document (a
			// base's pod spec an overlay patch only passes through): its
			// line there.
			if doc := r.docNode(info); doc != nil {
				if k, _, full := walkNodes(doc, anc, res.Object); full && k != nil {
					return checks.Origin{File: info.File, Line: k.Line, Approximate: true}
				}
			}
			// A Helm template is not YAML until rendered: follow the
			// ancestor through the template's indentation.
			if doc := r.docNode(info); doc == nil && r.src != nil && strings.Contains(info.File, "templates/") {
				if b, err := r.src.ReadFile(info.File); err == nil {
					if line := templateLine(strings.Split(string(b), "\n"), anc, res.Object); line > 0 {
						return checks.Origin{File: info.File, Line: line, Approximate: true}
					}
				}
			}
			o := r.Locate(res, anc)
			o.Approximate = true
			return o
		}
	}
	if len(info.Chain) > 0 {
		for i := len(info.Chain) - 1; i >= 0; i-- {
			if o, ok := r.fromKustomization(info, info.Chain[i], res, fieldPath, val, present); ok {
				return o
			}
		}
	} else {
		// A cache entry from before chains: patches, last first.
		for i := len(info.Patches) - 1; i >= 0; i-- {
			if o, ok := r.fromPatch(info.Patches[i], res, fieldPath); ok {
				return o
			}
		}
	}
	if len(info.Values) > 0 {
		if o, ok := r.locateValue(res, info, fieldPath); ok {
			return o
		}
	}
	if doc := r.docNode(info); doc != nil {
		if k, v, full := walkNodes(doc, fieldPath, res.Object); k != nil {
			o := checks.Origin{File: info.File, Line: k.Line}
			// The source holds the field but not its value, or the
			// rendered object has a field the source does not: something
			// gate does not model wrote it.
			// A field the rendered object lacks lands on its nearest
			// ancestor: where to add it, but not a line holding it.
			if !full || present && !sameValue(v, val) {
				o.Approximate = true
			}
			return o
		}
	}
	if o, ok := locateValue(info.FluxValues, res.Object, fieldPath); ok {
		return o
	}
	o := res.Origin
	if len(fieldPath) > 0 {
		o.Approximate = true
	}
	return o
}

// templateLine follows a field path through a Helm template's lines by
// indentation (template directives skipped): a key is the first line under
// the current block that starts with "key:", a list item the one whose
// "name:" is the rendered item's name, else the item at that index. It
// returns the 1-based line of the last segment found whole, 0 when the
// path leaves the template.
func templateLine(lines []string, fieldPath []string, obj any) int {
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
	skip := func(l string) bool {
		t := strings.TrimSpace(l)
		return t == "" || strings.HasPrefix(t, "{{") || strings.HasPrefix(t, "#")
	}
	from, depth, found := 0, -1, 0
	cur := obj
	for _, seg := range fieldPath {
		// The block: lines after from, indented deeper than depth.
		end := len(lines)
		for i := from; i < len(lines); i++ {
			if i > from-1 && i != from-1 && !skip(lines[i]) && indent(lines[i]) <= depth && i >= from {
				end = i
				break
			}
		}
		next := -1
		if idx, err := strconv.Atoi(seg); err == nil {
			name := ""
			if arr, ok := cur.([]any); ok && idx < len(arr) {
				if m, ok := arr[idx].(map[string]any); ok {
					name, _ = m["name"].(string)
				}
				cur = arr[idx]
			} else {
				cur = nil
			}
			var items []int
			for i := from; i < end; i++ {
				if t := strings.TrimSpace(lines[i]); !skip(lines[i]) && strings.HasPrefix(t, "- ") {
					if len(items) == 0 || indent(lines[i]) == indent(lines[items[0]]) {
						items = append(items, i)
					}
				}
			}
			for _, it := range items {
				if name != "" && strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[it]), "- ")) == "name: "+name {
					next = it
				}
			}
			if next < 0 && idx < len(items) {
				next = items[idx]
			}
			if next < 0 {
				return found
			}
			depth = indent(lines[next])
		} else {
			if m, ok := cur.(map[string]any); ok {
				cur = m[seg]
			} else {
				cur = nil
			}
			best := -1
			for i := from; i < end; i++ {
				if skip(lines[i]) {
					continue
				}
				t := strings.TrimPrefix(strings.TrimSpace(lines[i]), "- ")
				if strings.HasPrefix(t, seg+":") && (best < 0 || indent(lines[i]) < indent(lines[best])) {
					best = i
				}
			}
			if best < 0 {
				return found
			}
			next = best
			depth = indent(lines[next])
			if strings.HasPrefix(strings.TrimSpace(lines[next]), "- ") {
				depth += 2
			}
		}
		found, from = next+1, next+1
	}
	return found
}

// docNode parses (or reuses) the source document of a resource.
func (r *Result) docNode(info *locInfo) *yaml.Node {
	if info.Doc < 0 || r.src == nil {
		return nil
	}
	docs, err := r.docs.get(r.src, info.File)
	if err != nil || info.Doc >= len(docs) {
		return nil
	}
	n := docs[info.Doc].Node
	if info.Item > 0 {
		n = seqItem(child(n, "items"), info.Item-1)
	}
	return n
}

func (r *Result) patchNode(p patchLoc) *yaml.Node {
	var docs []Doc
	var err error
	if p.Inline != "" {
		docs, err = ParseDocs(p.File, []byte(p.Inline), r.docs.lim)
	} else if r.src != nil {
		docs, err = r.docs.get(r.src, p.File)
	}
	if err != nil || p.Doc < 0 || p.Doc >= len(docs) {
		return nil
	}
	return docs[p.Doc].Node
}

// walk follows fieldPath in a source node. List items are matched by their
// "name" field when the rendered item has one (patches merge lists by name),
// else by index. It returns the deepest node reached (the key node for a
// mapping entry) and whether the whole path was found.
func walk(n *yaml.Node, fieldPath []string, rendered any) (*yaml.Node, bool) {
	k, _, full := walkNodes(n, fieldPath, rendered)
	return k, full
}

// walkNodes is walk that also returns the value node reached.
func walkNodes(n *yaml.Node, fieldPath []string, rendered any) (*yaml.Node, *yaml.Node, bool) {
	cur := n
	var last *yaml.Node = n
	for _, seg := range fieldPath {
		switch cur.Kind {
		case yaml.MappingNode:
			k := keyNode(cur, seg)
			if k == nil {
				return last, nil, false
			}
			last = k
			cur = child(cur, seg)
			if m, ok := rendered.(map[string]any); ok {
				rendered = m[seg]
			} else {
				rendered = nil
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(seg)
			if err != nil {
				return last, nil, false
			}
			var item any
			if arr, ok := rendered.([]any); ok && i < len(arr) {
				item = arr[i]
			}
			var found *yaml.Node
			if m, ok := item.(map[string]any); ok {
				if name, ok := m["name"].(string); ok {
					for _, c := range cur.Content {
						if scalar(c, "name") == name {
							found = c
						}
					}
				}
			}
			if found == nil && i < len(cur.Content) && (item == nil || !hasName(item)) {
				found = cur.Content[i]
			}
			if found == nil {
				return last, nil, false
			}
			cur, last, rendered = found, found, item
		default:
			return last, nil, false
		}
		if cur == nil {
			return last, nil, false
		}
	}
	return last, cur, true
}

func hasName(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["name"]
	return ok
}

var _ checks.Locator = (*Result)(nil)
