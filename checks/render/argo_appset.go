package render

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// maxAppSetApps bounds what one ApplicationSet may generate (a matrix of
// two large generators multiplies).
const maxAppSetApps = 1000

// appSet is what expanding one ApplicationSet needs.
type appSet struct {
	src     source.Source
	cfg     argoConfig
	name    string
	file    string
	line    int
	node    *yaml.Node // the ApplicationSet document, nil when rendered
	goTmpl  bool
	missing string // goTemplateOptions missingkey
}

func (s *appSet) fail(p []string, format string, args ...any) checks.Finding {
	line := s.line
	if s.node != nil {
		if n, _ := walk(s.node, p, nil); n != nil && n != s.node {
			line = n.Line
		}
	}
	return checks.Finding{Check: "render", RuleID: ruleArgo, Severity: checks.SeverityError, Origin: checks.Origin{File: s.file, Line: line}, Message: fmt.Sprintf("ApplicationSet %s: ", s.name) + fmt.Sprintf(format, args...)}
}

func (s *appSet) notRendered(p []string, format string, args ...any) checks.Finding {
	f := s.fail(p, format, args...)
	f.RuleID, f.Severity = ruleNotRendered, checks.SeverityWarning
	return f
}

// expandAppSet turns an ApplicationSet into the Applications its
// generators and template give, as the ApplicationSet controller would.
// Generators gate cannot run offline (SCM providers, pull requests, plugins)
// are findings.
func expandAppSet(src source.Source, cfg argoConfig, obj map[string]any, file string, line int, node *yaml.Node, parents []checks.Node) ([]*argoApp, []checks.Finding) {
	md, _ := obj["metadata"].(map[string]any)
	spec, _ := obj["spec"].(map[string]any)
	s := &appSet{src: src, cfg: cfg, file: file, line: line, node: node}
	s.name, _ = md["name"].(string)
	s.goTmpl, _ = spec["goTemplate"].(bool)
	s.missing = "default"
	if opts, ok := spec["goTemplateOptions"].([]any); ok {
		for _, o := range opts {
			if v, ok := o.(string); ok && strings.HasPrefix(v, "missingkey=") {
				s.missing = strings.TrimPrefix(v, "missingkey=")
			}
		}
	}
	tmpl, _ := spec["template"].(map[string]any)
	if tmpl == nil {
		return nil, []checks.Finding{s.fail([]string{"spec"}, "has no template")}
	}
	if _, ok := spec["templatePatch"]; ok {
		return nil, []checks.Finding{s.notRendered([]string{"spec", "templatePatch"}, "templatePatch is not supported by gate: not rendered")}
	}
	gens, _ := spec["generators"].([]any)
	var finds []checks.Finding
	var params []map[string]any
	for i, g := range gens {
		gm, _ := g.(map[string]any)
		ps, fs := s.generate(gm, []string{"spec", "generators", fmt.Sprint(i)}, 0)
		finds = append(finds, fs...)
		params = append(params, ps...)
	}
	if len(params) > maxAppSetApps {
		return nil, append(finds, s.fail([]string{"spec", "generators"}, "generates %d Applications, more than gate's limit of %d", len(params), maxAppSetApps))
	}
	self := checks.Node{Kind: "ApplicationSet", Name: s.name, Depth: chainDepth(parents), Origin: checks.Origin{File: file, Line: line}}
	ps := append(append([]checks.Node{}, parents...), self)
	if usesClusters(spec["generators"]) {
		// The clusters from gate.yaml travel with the environment: its
		// render generates the Applications again.
		for _, c := range cfg.clusters {
			ps = append(ps, c.node(self.Depth+1))
		}
	}
	var tnode *yaml.Node
	if node != nil {
		tnode = child(child(node, "spec"), "template")
	}
	var apps []*argoApp
	for _, p := range params {
		out, err := s.render(tmpl, p)
		if err != nil {
			finds = append(finds, s.fail([]string{"spec", "template"}, "template: %v", err))
			continue
		}
		m, _ := out.(map[string]any)
		app := map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": m["metadata"], "spec": m["spec"]}
		if md, ok := app["metadata"].(map[string]any); ok {
			if _, ok := md["namespace"]; !ok {
				if ns, _ := obj["metadata"].(map[string]any)["namespace"].(string); ns != "" {
					md["namespace"] = ns
				}
			}
		}
		a := newArgoApp(app, file, line, tnode, ps)
		if tnode != nil {
			a.Line = tnode.Line
			a.Node = tnode
		}
		apps = append(apps, a)
	}
	return apps, finds
}

// generate runs one generator and returns its parameter sets.
func (s *appSet) generate(g map[string]any, at []string, depth int) ([]map[string]any, []checks.Finding) {
	if depth > 2 {
		return nil, []checks.Finding{s.fail(at, "generators nested too deep")}
	}
	var out []map[string]any
	var finds []checks.Finding
	for _, kind := range sortedAnyKeys(g) {
		body, _ := g[kind].(map[string]any)
		kat := append(append([]string{}, at...), kind)
		switch kind {
		case "list":
			els, _ := body["elements"].([]any)
			for _, e := range els {
				if m, ok := e.(map[string]any); ok {
					out = append(out, m)
				}
			}
		case "git":
			ps, fs := s.gitGenerator(body, kat)
			out, finds = append(out, ps...), append(finds, fs...)
		case "clusters":
			out = append(out, s.clusterGenerator(body)...)
		case "matrix", "merge":
			subs, _ := body["generators"].([]any)
			if len(subs) < 2 {
				finds = append(finds, s.fail(kat, "%s needs two generators", kind))
				continue
			}
			if kind == "matrix" {
				ps, fs := s.matrix(subs, kat, depth)
				out, finds = append(out, ps...), append(finds, fs...)
				continue
			}
			ps, fs := s.merge(subs, body, kat, depth)
			out, finds = append(out, ps...), append(finds, fs...)
		case "selector", "template", "values":
			// Per-generator extras gate does not apply beyond values.
		default:
			finds = append(finds, s.notRendered(kat, "the %s generator needs a service gate does not call: its Applications are not rendered", kind))
		}
	}
	if vals, ok := g["values"].(map[string]any); ok {
		for _, p := range out {
			for k, v := range vals {
				if str, ok := v.(string); ok {
					if r, err := s.render(str, p); err == nil {
						v = r
					}
				}
				if s.goTmpl {
					m, _ := p["values"].(map[string]any)
					if m == nil {
						m = map[string]any{}
						p["values"] = m
					}
					m[k] = v
				} else {
					p["values."+k] = v
				}
			}
		}
	}
	return out, finds
}

func (s *appSet) matrix(subs []any, at []string, depth int) ([]map[string]any, []checks.Finding) {
	g0, _ := subs[0].(map[string]any)
	left, finds := s.generate(g0, append(append([]string{}, at...), "generators", "0"), depth+1)
	var out []map[string]any
	for _, l := range left {
		g1, _ := subs[1].(map[string]any)
		// The second generator may use the first one's parameters.
		r, err := s.render(g1, l)
		if err != nil {
			finds = append(finds, s.fail(at, "matrix: %v", err))
			continue
		}
		g1r, _ := r.(map[string]any)
		right, fs := s.generate(g1r, append(append([]string{}, at...), "generators", "1"), depth+1)
		finds = append(finds, fs...)
		for _, rp := range right {
			m := map[string]any{}
			for k, v := range l {
				m[k] = v
			}
			for k, v := range rp {
				m[k] = v
			}
			out = append(out, m)
			if len(out) > maxAppSetApps {
				return out, finds
			}
		}
	}
	return out, finds
}

func (s *appSet) merge(subs []any, body map[string]any, at []string, depth int) ([]map[string]any, []checks.Finding) {
	var keys []string
	if ks, ok := body["mergeKeys"].([]any); ok {
		for _, k := range ks {
			if v, ok := k.(string); ok {
				keys = append(keys, v)
			}
		}
	}
	var finds []checks.Finding
	var base []map[string]any
	keyOf := func(p map[string]any) string {
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%v\x00", lookupParam(p, k))
		}
		return b.String()
	}
	for i, g := range subs {
		gm, _ := g.(map[string]any)
		ps, fs := s.generate(gm, append(append([]string{}, at...), "generators", fmt.Sprint(i)), depth+1)
		finds = append(finds, fs...)
		if i == 0 {
			base = ps
			continue
		}
		by := map[string]map[string]any{}
		for _, p := range ps {
			by[keyOf(p)] = p
		}
		for _, b := range base {
			if o, ok := by[keyOf(b)]; ok {
				for k, v := range o {
					b[k] = v
				}
			}
		}
	}
	return base, finds
}

// lookupParam reads a merge key: a flat key, or a dotted path into nested
// Go-template parameters.
func lookupParam(p map[string]any, key string) any {
	if v, ok := p[key]; ok {
		return v
	}
	var cur any = p
	for _, seg := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	return cur
}
