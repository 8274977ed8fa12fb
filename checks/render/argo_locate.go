package render

import (
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/reporef"
)

// valuesLoc is one source of a Helm release's values, in precedence order
// (the chart's values.yaml first, --set parameters last), so a finding on
// a field a template filled from .Values lands on the line that set that
// value: in a values file, in an Application's valuesObject or values
// block, or on a parameter.
type valuesLoc struct {
	File string `json:"file"`
	// Doc indexes ParseDocs(File); -1 when unknown.
	Doc int `json:"doc"`
	// Path leads from the document to the values mapping (valuesObject).
	Path []string `json:"path,omitempty"`
	// Inline is a values: | block, whose lines start after Offset.
	Inline string `json:"inline,omitempty"`
	Offset int    `json:"offset,omitempty"`
	// Param is a --set parameter's name (a.b.c).
	Param string `json:"param,omitempty"`
	// Line is where the source is declared, for whole-source answers.
	Line int `json:"line,omitempty"`
}

var valuesRefRe = regexp.MustCompile(`\.Values\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)`)

// locateValue finds the values line behind a field of a resource rendered
// from a Helm template: the template line that writes the field names
// .Values.x.y; the last values source that sets x.y (plus the rest of the
// field path, for toYaml blocks) is the line the author changes.
func (r *Result) locateValue(res *checks.Resource, info *locInfo, fieldPath []string) (checks.Origin, bool) {
	if r.src == nil {
		return checks.Origin{}, false
	}
	b, err := r.src.ReadFile(info.File)
	if err != nil {
		return checks.Origin{}, false
	}
	lines := strings.Split(string(b), "\n")
	for k := len(fieldPath) - 1; k >= 0; k-- {
		seg := fieldPath[k]
		for i, l := range lines {
			t := strings.TrimPrefix(strings.TrimSpace(l), "- ")
			if !strings.HasPrefix(t, seg+":") {
				continue
			}
			refs := valuesRefRe.FindAllStringSubmatch(l, -1)
			if len(refs) == 0 && i+1 < len(lines) && strings.TrimSpace(t) == seg+":" {
				refs = valuesRefRe.FindAllStringSubmatch(lines[i+1], -1)
			}
			if len(refs) == 0 {
				continue
			}
			best, bestRank := checks.Origin{}, -1
			for _, m := range refs {
				vp := append(strings.Split(m[1], "."), fieldPath[k+1:]...)
				if o, rank, ok := r.valueOrigin(info.Values, vp); ok && rank > bestRank {
					best, bestRank = o, rank
				}
			}
			if bestRank >= 0 {
				return best, true
			}
			return checks.Origin{File: info.File, Line: i + 1}, true
		}
	}
	return checks.Origin{}, false
}

// valueOrigin finds the value at vp in the highest-precedence values
// source that sets it (or its deepest set ancestor); rank is the source's
// position.
func (r *Result) valueOrigin(vs []valuesLoc, vp []string) (checks.Origin, int, bool) {
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		switch {
		case v.Param != "":
			p := strings.Join(vp, ".")
			if p == v.Param || strings.HasPrefix(p, v.Param+".") {
				return checks.Origin{File: v.File, Line: v.Line}, i, true
			}
		case v.Inline != "":
			docs, err := ParseDocs(v.File, []byte(v.Inline), r.docs.lim)
			if err != nil || len(docs) == 0 {
				continue
			}
			if n, full := walk(docs[0].Node, vp, nil); full && n != nil {
				return checks.Origin{File: v.File, Line: v.Offset + n.Line}, i, true
			}
		default:
			if v.Doc < 0 {
				continue
			}
			docs, err := r.docs.get(r.src, v.File)
			if err != nil || v.Doc >= len(docs) {
				continue
			}
			n := valueNode(docs[v.Doc].Node, v.Path)
			if n == nil {
				continue
			}
			if k, full := walk(n, vp, nil); full && k != nil {
				return checks.Origin{File: v.File, Line: k.Line}, i, true
			}
		}
	}
	return checks.Origin{}, -1, false
}

// valueNode follows p from n to a value node (walk stops at key nodes).
func valueNode(n *yaml.Node, p []string) *yaml.Node {
	for _, seg := range p {
		if n == nil {
			return nil
		}
		switch n.Kind {
		case yaml.MappingNode:
			n = child(n, seg)
		case yaml.SequenceNode:
			i, err := strconv.Atoi(seg)
			if err != nil {
				return nil
			}
			n = seqItem(n, i)
		default:
			return nil
		}
	}
	return n
}

// argoIsThisRepo reports whether a repoURL names the repository gate
// checks: one of the URLs the environment lists (its git remotes and the
// URLs gate.yaml's repository.urls names), in any git URL form.
func argoIsThisRepo(url string, repos []string) bool {
	return reporef.New(repos...).Match(url)
}
