package render

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks/source"
)

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
