package render

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// sourceMarker is the annotation gate puts on every document of every
// resource file it hands kustomize: "<repo-relative file>#<document index>".
// It replaces kustomize's `buildMetadata: [originAnnotations]`, which also
// switches on transformer tracking: after every transformer of every
// kustomization in the build, kustomize parses, extends and re-marshals an
// annotation on every object (resWrangler.AddTransformerAnnotation), only to
// strip it at the end. On a 50-environment repo that was a third of the
// render's CPU and half of its allocations. The marker is removed from the
// output before anything else sees it.
const sourceMarker = "gate.internal/source"

// markSources overrides every resource file of the build (and the rendered
// Helm output) with a copy whose documents carry sourceMarker. Documents
// are copied shallowly: the parsed nodes in the cache are never changed.
func markSources(src source.Source, g *graph, docs *docCache, fsys *kfs, virtual map[string][]helmDoc) error {
	files := map[string]bool{}
	for _, dir := range g.order {
		k := g.byDir[dir]
		bases := map[string]bool{}
		for _, b := range k.Bases {
			bases[b] = true
		}
		for _, it := range seqItems(child(k.Root, "resources")) {
			ref := strings.TrimSpace(it.Value)
			if IsRemote(ref) {
				continue
			}
			p, err := source.Join(k.Dir, ref)
			if err != nil || bases[p] || !isYAMLFile(p) {
				continue
			}
			files[p] = true
		}
	}
	for p := range virtual {
		files[p] = true
	}
	for p := range files {
		ds := docs.cached(p)
		if ds == nil {
			var err error
			if ds, err = docs.get(src, p); err != nil {
				continue // kustomize reports the file as it sees it
			}
		}
		var b strings.Builder
		for _, d := range ds {
			n := d.Node
			if d.Kind != "" && n.Kind == yaml.MappingNode {
				n = withAnnotation(n, sourceMarker, p+"#"+strconv.Itoa(d.Index))
			}
			out, err := encodeDoc(n)
			if err != nil {
				return fmt.Errorf("mark %s: %w", p, err)
			}
			b.WriteString("---\n")
			b.Write(out)
		}
		fsys.overrides[p] = []byte(b.String())
	}
	return nil
}

// encodeDoc writes a parsed document back as YAML for kustomize, with the
// same content. yaml.v3 does not always write a scalar back as it read it
// (found by FuzzParseDocs): a folded scalar (">") with more-indented lines
// gains a line break; a block scalar that starts with a space or an empty
// line inside a sequence gets an indentation indicator that does not parse;
// an empty null ("{a: }", a "? " key) comes back as an empty string. So
// folded scalars are written literal ("|"), block scalars that start with
// white space or hold a tab double-quoted, and empty nulls as null.
//
// kustomize itself writes its result with kyaml's writer, which has those
// same habits, and that text is what Argo CD and Flux apply. So a document
// holding such a scalar is first written and read back the way kustomize's
// output is (asWritten), then encoded faithfully: kustomize builds from the
// values its own output would have held, and the object gate renders is
// the one `kustomize build` prints.
func encodeDoc(n *yaml.Node) ([]byte, error) {
	return yaml.Marshal(faithful(asWritten(n)))
}

// asWritten returns n as kustomize's writer leaves it: written with kyaml
// and parsed again, when a scalar below n is one the writer can change
// (see atRisk); n itself otherwise, or when the written text does not
// parse (kustomize's output would not either; the author's value stays).
func asWritten(n *yaml.Node) *yaml.Node {
	if !atRisk(n) {
		return n
	}
	text, err := kyaml.NewRNode(n).String()
	if err != nil {
		return n
	}
	var d yaml.Node
	if err := yaml.Unmarshal([]byte(text), &d); err != nil || d.Kind != yaml.DocumentNode || len(d.Content) != 1 {
		return n
	}
	out := d.Content[0]
	// kustomize rebuilds metadata.annotations from a map while it reads
	// objects (its index annotations), so their values lose their style
	// and are written plain: they keep the author's value.
	if was := annotationsNode(n); was != nil {
		if md := mapValue(out, "metadata"); md != nil {
			for i := 0; i+1 < len(md.Content); i += 2 {
				if md.Content[i].Value == "annotations" {
					md.Content[i+1] = was
				}
			}
		}
	}
	return out
}

func annotationsNode(n *yaml.Node) *yaml.Node {
	return mapValue(mapValue(n, "metadata"), "annotations")
}

// mapValue is the value of key in the mapping n, nil when there is none.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// atRisk reports whether a scalar below n is one yaml.v3's writer may not
// give back as it was read: a folded scalar, a literal one that keeps
// trailing line breaks, starts with white space or holds a tab, an empty
// null.
func atRisk(n *yaml.Node) bool {
	if n == nil {
		return false
	}
	if n.Kind == yaml.ScalarNode {
		switch {
		case n.Tag == "!!null" && n.Value == "":
			return true
		case n.Style&yaml.FoldedStyle != 0:
			return true
		case n.Style&yaml.LiteralStyle != 0:
			v := n.Value
			return strings.HasSuffix(v, "\n\n") || strings.HasPrefix(v, " ") || strings.HasPrefix(v, "\n") || strings.Contains(v, "\t")
		}
		return false
	}
	for _, c := range n.Content {
		if atRisk(c) {
			return true
		}
	}
	return false
}

const blockStyles = yaml.LiteralStyle | yaml.FoldedStyle

// faithful returns n, or when a scalar below it needs another style, a copy
// (sharing every untouched node) with that scalar restyled.
func faithful(n *yaml.Node) *yaml.Node {
	if n == nil || n.Kind == yaml.AliasNode {
		return n
	}
	out := n
	if n.Kind == yaml.ScalarNode {
		cp := *n
		switch {
		case n.Tag == "!!null" && n.Value == "":
			cp.Value = "null"
		case n.Style&blockStyles == 0:
		case strings.HasPrefix(n.Value, " ") || strings.HasPrefix(n.Value, "\n") || strings.Contains(n.Value, "\t"):
			cp.Style = cp.Style&^blockStyles | yaml.DoubleQuotedStyle
		default:
			cp.Style = cp.Style&^blockStyles | yaml.LiteralStyle
		}
		if cp.Style != n.Style || cp.Value != n.Value {
			out = &cp
		}
	}
	copied := false
	for i, c := range n.Content {
		u := faithful(c)
		if u == c {
			continue
		}
		if !copied {
			if out == n {
				cp := *n
				out = &cp
			}
			out.Content = append([]*yaml.Node(nil), n.Content...)
			copied = true
		}
		out.Content[i] = u
	}
	return out
}

// withAnnotation returns a copy of the object mapping m with
// metadata.annotations[key] = value, sharing every other node with m.
func withAnnotation(m *yaml.Node, key, value string) *yaml.Node {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	pair := []*yaml.Node{str(key), str(value)}
	cp := *m
	cp.Content = append([]*yaml.Node(nil), m.Content...)
	mdIdx := -1
	for i := 0; i+1 < len(cp.Content); i += 2 {
		if cp.Content[i].Value == "metadata" {
			mdIdx = i + 1
		}
	}
	if mdIdx < 0 {
		md := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{str("annotations"), {Kind: yaml.MappingNode, Tag: "!!map", Content: pair}}}
		cp.Content = append(cp.Content, str("metadata"), md)
		return &cp
	}
	md := cp.Content[mdIdx]
	if md.Kind != yaml.MappingNode {
		return m // not an object kustomize accepts; leave it to report
	}
	mdc := *md
	mdc.Content = append([]*yaml.Node(nil), md.Content...)
	cp.Content[mdIdx] = &mdc
	for i := 0; i+1 < len(mdc.Content); i += 2 {
		if mdc.Content[i].Value != "annotations" {
			continue
		}
		an := mdc.Content[i+1]
		if an.Kind != yaml.MappingNode {
			if an.Kind == yaml.ScalarNode && (an.Tag == "!!null" || an.Value == "") {
				mdc.Content[i+1] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: pair}
				return &cp
			}
			return m
		}
		anc := *an
		anc.Content = append(append([]*yaml.Node(nil), an.Content...), pair...)
		mdc.Content[i+1] = &anc
		return &cp
	}
	mdc.Content = append(mdc.Content, str("annotations"), &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: pair})
	return &cp
}

// markedOrigin returns, in the form of kustomize's origin annotation (paths
// relative to the environment), where a rendered object came from: the file
// its marker names, or for generated objects the kustomization whose
// generator made it. "" when neither is known (a patch replaced all
// annotations): locContext.origin then searches the sources.
func (lc *locContext) markedOrigin(r *checks.Resource, marker string) string {
	up := strings.Repeat("../", strings.Count(lc.env.Path, "/")+1)
	if lc.env.Path == "" || lc.env.Path == "." {
		up = ""
	}
	if marker != "" {
		file := marker
		if i := strings.LastIndexByte(marker, '#'); i >= 0 {
			file = marker[:i]
		}
		return "path: " + strconv.Quote(up+file) + "\n"
	}
	key, by := "configMapGenerator", "ConfigMapGenerator"
	switch r.ID.Kind {
	case "ConfigMap":
	case "Secret":
		key, by = "secretGenerator", "SecretGenerator"
	default:
		return ""
	}
	// The kustomization that created it (behavior create, the default),
	// with the longest generator name the rendered name contains.
	best, bestFile := "", ""
	for _, dir := range lc.g.order {
		k := lc.g.byDir[dir]
		for _, it := range seqItems(child(k.Root, key)) {
			if b := scalar(it, "behavior"); b != "" && b != "create" {
				continue
			}
			n := scalar(it, "name")
			if n != "" && strings.Contains(r.ID.Name, n) && len(n) > len(best) {
				best, bestFile = n, k.File
			}
		}
	}
	if bestFile == "" {
		return ""
	}
	return "configuredIn: " + strconv.Quote(up+bestFile) + "\nconfiguredBy:\n  kind: " + by + "\n"
}
