package render

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
)

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
		if o, ok := r.locateAncestor(res, info, fieldPath); ok {
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

// locateAncestor places a field the rendered object lacks (fieldPath) on
// its nearest present ancestor; ok is false when no ancestor is present.
func (r *Result) locateAncestor(res *checks.Resource, info *locInfo, fieldPath []string) (checks.Origin, bool) {
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
	if len(anc) == 0 {
		return checks.Origin{}, false
	}
	// The ancestor is in the object's own source document (a
	// base's pod spec an overlay patch only passes through): its
	// line there.
	if doc := r.docNode(info); doc != nil {
		if k, _, full := walkNodes(doc, anc, res.Object); full && k != nil {
			return checks.Origin{File: info.File, Line: k.Line, Approximate: true}, true
		}
	}
	// A Helm template is not YAML until rendered: follow the
	// ancestor through the template's indentation.
	if doc := r.docNode(info); doc == nil && r.src != nil && strings.Contains(info.File, "templates/") {
		if b, err := r.src.ReadFile(info.File); err == nil {
			if line := templateLine(strings.Split(string(b), "\n"), anc, res.Object); line > 0 {
				return checks.Origin{File: info.File, Line: line, Approximate: true}, true
			}
		}
	}
	o := r.Locate(res, anc)
	o.Approximate = true
	return o, true
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
