package render

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// fromReplacements finds a replacement target of kf whose fieldPaths
// name the field on this object.
func (r *Result) fromReplacements(root *yaml.Node, kf, dir string, res *checks.Resource, fp []string) (checks.Origin, bool) {
	type rep struct {
		file string
		node *yaml.Node
	}
	var reps []rep
	for _, it := range seqItems(child(root, "replacements")) {
		if p := scalar(it, "path"); p != "" {
			f, err := source.Join(dir, p)
			if err != nil || r.src == nil {
				continue
			}
			docs, err := r.docs.get(r.src, f)
			if err != nil {
				continue
			}
			for _, d := range docs {
				if d.Node.Kind == yaml.SequenceNode {
					for _, c := range d.Node.Content {
						reps = append(reps, rep{f, c})
					}
				} else {
					reps = append(reps, rep{f, d.Node})
				}
			}
			continue
		}
		reps = append(reps, rep{kf, it})
	}
	for _, rp := range slices.Backward(reps) {
		for _, t := range seqItems(child(rp.node, "targets")) {
			if !selects(child(t, "select"), res) {
				continue
			}
			rejected := false
			for _, rj := range seqItems(child(t, "reject")) {
				if selects(rj, res) {
					rejected = true
				}
			}
			if rejected {
				continue
			}
			for _, f := range seqItems(child(t, "fieldPaths")) {
				if fieldPathMatches(f.Value, fp, res.Object) {
					return checks.Origin{File: rp.file, Line: f.Line}, true
				}
			}
		}
	}
	return checks.Origin{}, false
}

// selects reports whether a replacement's select/reject selector matches.
func selects(sel *yaml.Node, res *checks.Resource) bool {
	if sel == nil || sel.Kind != yaml.MappingNode {
		return false
	}
	if k := scalar(sel, "kind"); k != "" && k != res.ID.Kind {
		return false
	}
	if nm := scalar(sel, "name"); nm != "" && !strings.Contains(res.ID.Name, nm) {
		return false
	}
	if ns := scalar(sel, "namespace"); ns != "" && ns != res.ID.Namespace {
		return false
	}
	if g := scalar(sel, "group"); g != "" && g != res.ID.Group {
		return false
	}
	return true
}

var bracketSeg = regexp.MustCompile(`^\[([^=\]]+)=([^\]]*)\]$`)

// fieldPathMatches compares a kustomize field path
// (spec.template.spec.containers.[name=web].image, "*" wildcards) with a
// field path of the rendered object.
func fieldPathMatches(spec string, fp []string, obj any) bool {
	segs := splitFieldPath(spec)
	if len(segs) != len(fp) {
		return false
	}
	cur := obj
	for i, s := range segs {
		var next any
		switch t := cur.(type) {
		case map[string]any:
			next = t[fp[i]]
		case []any:
			if j, err := strconv.Atoi(fp[i]); err == nil && j >= 0 && j < len(t) {
				next = t[j]
			}
		}
		switch {
		case s == "*" || s == fp[i]:
		case bracketSeg.MatchString(s):
			m := bracketSeg.FindStringSubmatch(s)
			item, _ := next.(map[string]any)
			if item == nil || fmt.Sprint(item[m[1]]) != m[2] {
				return false
			}
		default:
			return false
		}
		cur = next
	}
	return true
}

// splitFieldPath splits on dots outside brackets.
func splitFieldPath(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '.':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// sameValue reports whether a source scalar still holds the rendered value
// (or is contained in it: prefixes, suffixes and hashes only add to names).
func sameValue(n *yaml.Node, val any) bool {
	if n == nil || n.Kind != yaml.ScalarNode {
		return true
	}
	switch v := val.(type) {
	case map[string]any, []any:
		return true
	case string:
		return v == n.Value || n.Value != "" && strings.Contains(v, n.Value)
	case nil:
		return n.Tag == "!!null" || n.Value == ""
	}
	s := fmt.Sprint(val)
	if s == n.Value {
		return true
	}
	if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
		if g, err := strconv.ParseFloat(s, 64); err == nil && f == g {
			return true
		}
	}
	return false
}
