package render

import (
	"fmt"
	"path"
	"regexp"
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

// parseOriginAnn reads an origin annotation. The two forms markedOrigin
// writes for every rendered object are read directly when their quoted
// path holds no escape (then the YAML value is the text between the
// quotes); anything else is read as YAML.
func parseOriginAnn(ann string) originAnn {
	var oa originAnn
	if rest, ok := strings.CutPrefix(ann, "path: "); ok {
		if p, ok := plainQuoted(rest, "\n"); ok {
			oa.Path = p
			return oa
		}
	}
	if rest, ok := strings.CutPrefix(ann, "configuredIn: "); ok {
		for _, by := range []string{"ConfigMapGenerator", "SecretGenerator"} {
			if p, ok := plainQuoted(rest, "\nconfiguredBy:\n  kind: "+by+"\n"); ok {
				oa.ConfiguredIn, oa.ConfiguredBy.Kind = p, by
				return oa
			}
		}
	}
	_ = sigsyaml.Unmarshal([]byte(ann), &oa)
	return oa
}

// plainQuoted returns the text of s = `"text"` + tail when text holds no
// quote or backslash.
func plainQuoted(s, tail string) (string, bool) {
	q, ok := strings.CutSuffix(s, tail)
	if !ok || len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", false
	}
	text := q[1 : len(q)-1]
	if strings.ContainsAny(text, "\"\\") {
		return "", false
	}
	return text, true
}

// origin resolves kustomize's origin annotation to a file and line, and
// finds the patches that apply to the resource.
func (lc *locContext) origin(r *checks.Resource, ann string) (checks.Origin, *locInfo) {
	info := &locInfo{Doc: -1}
	oa := parseOriginAnn(ann)
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

var _ checks.Locator = (*Result)(nil)
