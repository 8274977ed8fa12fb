package render

import (
	"path"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
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

// locInfo is what Locate needs for one resource: its source document and
// the patches that touched it.
type locInfo struct {
	file    string
	doc     *yaml.Node
	patches []patchLoc
}

type patchLoc struct {
	file string
	// lineOffset is added to node lines (inline patches inside a kustomization).
	lineOffset int
	doc        *yaml.Node // strategic merge patch document
	ops        []jsonOp   // JSON 6902 operations
	line       int        // the patch entry's line
}

type jsonOp struct {
	path string
	line int
}

func (l *locInfo) patchOrigins() []checks.Origin {
	if l == nil {
		return nil
	}
	var out []checks.Origin
	for _, p := range l.patches {
		out = append(out, checks.Origin{File: p.file, Line: p.line})
	}
	return out
}

type locContext struct {
	src  source.Source
	env  checks.Env
	g    *graph
	docs *docCache
	helm map[string][]helmDoc
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
	info := &locInfo{}
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
		if d := matchDoc(docs, r.ID.Kind, r.ID.Name); d != nil {
			o.Line = d.Line
			info.doc = d.Node
			if hd, ok := lc.helm[file]; ok {
				// Generated chart output: point at the template.
				idx := 0
				for i, x := range docs {
					if x.Node == d.Node {
						idx = i
					}
				}
				if idx < len(hd) {
					o = checks.Origin{File: hd[idx].Template, Line: helmLine(lc.src, hd[idx].Template, *d)}
					info.doc = nil
				}
			}
		}
		info.file = o.File
	case oa.ConfiguredIn != "" && strings.HasSuffix(oa.ConfiguredBy.Kind, "Generator"):
		file, err := source.Join(lc.env.Path, oa.ConfiguredIn)
		if err != nil {
			file = lc.env.Path
		}
		o = checks.Origin{File: file, Line: 1}
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
		info.file = o.File
	default:
		// A patch replaced metadata.annotations and took kustomize's origin
		// with it: search every source document the build read.
		o = checks.Origin{File: lc.g.byDir[lc.env.Path].File}
		for _, dir := range lc.g.order {
			for _, f := range lc.g.byDir[dir].Files {
				if d := matchDoc(lc.docs.cached(f), r.ID.Kind, r.ID.Name); d != nil && (d.Name != "" && strings.Contains(r.ID.Name, d.Name)) {
					o = checks.Origin{File: f, Line: d.Line}
					info.doc = d.Node
				}
			}
		}
		info.file = o.File
	}
	info.patches = lc.patchesFor(r, o.File)
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

// patchesFor lists the patches of every kustomization that can reach the
// resource's origin file and that target the resource.
func (lc *locContext) patchesFor(r *checks.Resource, originFile string) []patchLoc {
	var out []patchLoc
	for _, dir := range lc.g.order {
		reach := lc.g.reach[dir]
		if !reachable(reach, originFile) {
			continue
		}
		k := lc.g.byDir[dir]
		for _, pr := range k.Patches {
			out = append(out, lc.patchLocs(r, pr)...)
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
	if pr.TargetKind != "" && pr.TargetKind != r.ID.Kind {
		return nil
	}
	if pr.TargetName != "" && !strings.Contains(r.ID.Name, pr.TargetName) {
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
	for _, d := range docs {
		if d.Node.Kind == yaml.SequenceNode {
			// JSON 6902 operations.
			if pr.TargetKind == "" {
				continue
			}
			pl := patchLoc{file: pr.File, lineOffset: offset, line: pr.Line}
			for _, op := range d.Node.Content {
				pl.ops = append(pl.ops, jsonOp{path: scalar(op, "path"), line: op.Line + offset})
			}
			if pr.Inline == "" && len(pl.ops) > 0 {
				pl.line = pl.ops[0].line
			}
			out = append(out, pl)
			continue
		}
		if pr.TargetKind == "" {
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
		out = append(out, patchLoc{file: pr.File, lineOffset: offset, doc: d.Node, line: line})
	}
	return out
}

// Locate implements checks.Locator: the line that set a field. Patches win
// over the base document (the last patch first); otherwise the deepest
// existing ancestor of the field in the source document.
func (r *Result) Locate(res *checks.Resource, fieldPath []string) checks.Origin {
	info := r.loc[res]
	if info == nil {
		return res.Origin
	}
	for i := len(info.patches) - 1; i >= 0; i-- {
		p := info.patches[i]
		if p.doc != nil {
			if n, full := walk(p.doc, fieldPath, res.Object); full && n != nil {
				return checks.Origin{File: p.file, Line: n.Line + p.lineOffset}
			}
		}
		want := "/" + strings.Join(fieldPath, "/")
		for _, op := range p.ops {
			if op.path != "" && (op.path == want || strings.HasPrefix(want, op.path+"/")) {
				return checks.Origin{File: p.file, Line: op.line}
			}
		}
	}
	if info.doc != nil {
		if n, _ := walk(info.doc, fieldPath, res.Object); n != nil {
			return checks.Origin{File: info.file, Line: n.Line}
		}
	}
	return res.Origin
}

// walk follows fieldPath in a source node. List items are matched by their
// "name" field when the rendered item has one (patches merge lists by name),
// else by index. It returns the deepest node reached (the key node for a
// mapping entry) and whether the whole path was found.
func walk(n *yaml.Node, fieldPath []string, rendered any) (*yaml.Node, bool) {
	cur := n
	var last *yaml.Node = n
	for _, seg := range fieldPath {
		switch cur.Kind {
		case yaml.MappingNode:
			k := keyNode(cur, seg)
			if k == nil {
				return last, false
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
				return last, false
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
				return last, false
			}
			cur, last, rendered = found, found, item
		default:
			return last, false
		}
		if cur == nil {
			return last, false
		}
	}
	return last, true
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
