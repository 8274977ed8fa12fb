package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
	"github.com/gobwas/glob"
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

// gitGenerator runs a git directories or files generator on this
// repository's tree; another repository or revision is not rendered.
func (s *appSet) gitGenerator(body map[string]any, at []string) ([]map[string]any, []checks.Finding) {
	repo, _ := body["repoURL"].(string)
	rev, _ := body["revision"].(string)
	if !argoIsThisRepo(repo, s.cfg.repos) || !argoIsThisRevision(rev) {
		return nil, []checks.Finding{s.notRendered(append(at, "repoURL"), "git generator reads %s at %s, another repository or revision: its Applications are not rendered", repo, orDefault(rev, "HEAD"))}
	}
	var finds []checks.Finding
	var out []map[string]any
	if dirs, ok := body["directories"].([]any); ok {
		var inc, exc []*glob.Pattern
		for i, d := range dirs {
			dm, _ := d.(map[string]any)
			pat, _ := dm["path"].(string)
			g, err := glob.Compile(pat, '/')
			if err != nil {
				finds = append(finds, s.fail(append(at, "directories", fmt.Sprint(i), "path"), "path %q: %v", pat, err))
				continue
			}
			if ex, _ := dm["exclude"].(bool); ex {
				exc = append(exc, g)
			} else {
				inc = append(inc, g)
			}
		}
		_ = fs.WalkDir(s.src, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || p == "." {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			if matchAny(inc, p) && !matchAny(exc, p) {
				out = append(out, s.pathParams(p, false))
			}
			return nil
		})
	}
	if files, ok := body["files"].([]any); ok {
		var inc, exc []*glob.Pattern
		for i, f := range files {
			fm, _ := f.(map[string]any)
			pat, _ := fm["path"].(string)
			g, err := glob.Compile(pat, '/')
			if err != nil {
				finds = append(finds, s.fail(append(at, "files", fmt.Sprint(i), "path"), "path %q: %v", pat, err))
				continue
			}
			if ex, _ := fm["exclude"].(bool); ex {
				exc = append(exc, g)
			} else {
				inc = append(inc, g)
			}
		}
		_ = fs.WalkDir(s.src, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if p != "." && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if !matchAny(inc, p) || matchAny(exc, p) {
				return nil
			}
			ps, err := s.fileParams(p)
			if err != nil {
				finds = append(finds, checks.Finding{Check: "render", RuleID: ruleArgo, Severity: checks.SeverityError, Origin: checks.Origin{File: p, Line: 1}, Message: fmt.Sprintf("ApplicationSet %s git files generator: %v", s.name, err)})
				return nil
			}
			out = append(out, ps...)
			return nil
		})
	}
	return out, finds
}

func matchAny(gs []*glob.Pattern, p string) bool {
	for _, g := range gs {
		if g.Match(p) {
			return true
		}
	}
	return false
}

var nonAlnum = regexp.MustCompile(`[^a-zA-Z0-9-]`)

// pathParams are the path parameters of a git generator entry: for a
// directory its path, for a file the directory that holds it.
func (s *appSet) pathParams(p string, file bool) map[string]any {
	dir := p
	if file {
		dir = path.Dir(p)
	}
	segs := strings.Split(dir, "/")
	base := path.Base(dir)
	norm := nonAlnum.ReplaceAllString(base, "-")
	if s.goTmpl {
		pm := map[string]any{"path": dir, "basename": base, "basenameNormalized": norm, "segments": anySlice(segs)}
		if file {
			pm["filename"] = path.Base(p)
			pm["filenameNormalized"] = nonAlnum.ReplaceAllString(path.Base(p), "-")
		}
		return map[string]any{"path": pm}
	}
	m := map[string]any{"path": dir, "path.basename": base, "path.basenameNormalized": norm}
	for i, sg := range segs {
		m[fmt.Sprintf("path[%d]", i)] = sg
	}
	if file {
		m["path.filename"] = path.Base(p)
		m["path.filenameNormalized"] = nonAlnum.ReplaceAllString(path.Base(p), "-")
	}
	return m
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// fileParams reads a git files generator's file: a mapping (or a list of
// them) whose keys become parameters, flattened with dots for the default
// template syntax.
func (s *appSet) fileParams(p string) ([]map[string]any, error) {
	b, err := s.src.ReadFile(p)
	if err != nil {
		return nil, err
	}
	ds, err := ParseDocs(p, b, s.cfg.lim)
	if err != nil {
		return nil, err
	}
	var items []map[string]any
	for _, d := range ds {
		var v any
		if err := d.Node.Decode(&v); err != nil {
			return nil, err
		}
		switch t := normalize(v).(type) {
		case map[string]any:
			items = append(items, t)
		case []any:
			for _, it := range t {
				if m, ok := it.(map[string]any); ok {
					items = append(items, m)
				}
			}
		}
	}
	var out []map[string]any
	for _, it := range items {
		m := map[string]any{}
		if s.goTmpl {
			for k, v := range it {
				m[k] = v
			}
		} else {
			flatten("", it, m)
		}
		for k, v := range s.pathParams(p, true) {
			m[k] = v
		}
		out = append(out, m)
	}
	return out, nil
}

func flatten(prefix string, v any, out map[string]any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, x, out)
		}
	case []any:
		b, _ := json.Marshal(t)
		out[prefix] = string(b)
	default:
		if t == nil {
			out[prefix] = ""
		} else {
			out[prefix] = fmt.Sprint(t)
		}
	}
}

// clusterGenerator lists the clusters gate knows: the one Argo CD runs in
// (in-cluster) when no selector narrows them, and those gate.yaml declares.
func (s *appSet) clusterGenerator(body map[string]any) []map[string]any {
	clusters := append([]argoCluster{}, s.cfg.clusters...)
	sel, _ := body["selector"].(map[string]any)
	if len(sel) == 0 && len(clusters) == 0 {
		clusters = append(clusters, argoCluster{Name: "in-cluster", Server: "https://kubernetes.default.svc"})
	}
	var want map[string]any
	if sel != nil {
		want, _ = sel["matchLabels"].(map[string]any)
	}
	var out []map[string]any
	for _, c := range clusters {
		ok := true
		for k, v := range want {
			if c.Labels[k] != fmt.Sprint(v) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		labels := map[string]any{}
		for k, v := range c.Labels {
			labels[k] = v
		}
		if s.goTmpl {
			out = append(out, map[string]any{"name": c.Name, "nameNormalized": nonAlnum.ReplaceAllString(c.Name, "-"), "server": c.Server, "metadata": map[string]any{"labels": labels}})
			continue
		}
		m := map[string]any{"name": c.Name, "nameNormalized": nonAlnum.ReplaceAllString(c.Name, "-"), "server": c.Server}
		for k, v := range c.Labels {
			m["metadata.labels."+k] = v
		}
		out = append(out, m)
	}
	return out
}

// render replaces parameters in every string of v: Go templates (with
// Sprig's functions, none that reads the environment or the network) when
// goTemplate is set, else Argo CD's {{name}} placeholders, which leave an
// unknown name as it is.
func (s *appSet) render(v any, params map[string]any) (any, error) {
	switch t := v.(type) {
	case string:
		if s.goTmpl {
			return s.goRender(t, params)
		}
		return fastRender(t, params), nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			key := k
			if strings.Contains(k, "{{") {
				r, err := s.render(k, params)
				if err != nil {
					return nil, err
				}
				key = fmt.Sprint(r)
			}
			r, err := s.render(x, params)
			if err != nil {
				return nil, err
			}
			out[key] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			r, err := s.render(x, params)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

var fastRe = regexp.MustCompile(`{{\s*([^{}]*?)\s*}}`)

func fastRender(t string, params map[string]any) string {
	return fastRe.ReplaceAllStringFunc(t, func(m string) string {
		key := strings.TrimSpace(fastRe.FindStringSubmatch(m)[1])
		if v, ok := params[key]; ok {
			return fmt.Sprint(v)
		}
		return m
	})
}

// goFuncs is Sprig without what reads the process environment or resolves
// hosts, as the ApplicationSet controller offers it.
func goFuncs() template.FuncMap {
	f := sprig.TxtFuncMap()
	for _, k := range []string{"env", "expandenv", "getHostByName"} {
		delete(f, k)
	}
	f["toYaml"] = func(v any) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	return f
}

func (s *appSet) goRender(t string, params map[string]any) (string, error) {
	if !strings.Contains(t, "{{") {
		return t, nil
	}
	tp, err := template.New("").Funcs(goFuncs()).Option("missingkey=" + s.missing).Parse(t)
	if err != nil {
		return "", err
	}
	// A template from the repo may loop or grow without bound: its output
	// is capped and it is abandoned past a deadline (text/template cannot
	// be stopped).
	type out struct {
		s   string
		err error
	}
	ch := make(chan out, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- out{err: fmt.Errorf("template panicked: %v", p)}
			}
		}()
		w := &cappedWriter{max: maxTemplateOutput}
		err := tp.Execute(w, params)
		ch <- out{w.b.String(), err}
	}()
	t0 := time.NewTimer(templateTimeout)
	defer t0.Stop()
	select {
	case o := <-ch:
		if o.err != nil {
			return "", o.err
		}
		return strings.ReplaceAll(o.s, "<no value>", ""), nil
	case <-t0.C:
		return "", fmt.Errorf("template ran longer than %s: not rendered", templateTimeout)
	}
}

const (
	maxTemplateOutput = 1 << 20
	templateTimeout   = 5 * time.Second
)

// cappedWriter fails a template whose output passes max bytes.
type cappedWriter struct {
	b   bytes.Buffer
	max int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, fmt.Errorf("template output is larger than %d bytes", w.max)
	}
	return w.b.Write(p)
}

func sortedAnyKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// usesClusters reports whether generators include a cluster generator.
func usesClusters(gens any) bool {
	switch t := gens.(type) {
	case map[string]any:
		for k, v := range t {
			if k == "clusters" || usesClusters(v) {
				return true
			}
		}
	case []any:
		for _, v := range t {
			if usesClusters(v) {
				return true
			}
		}
	}
	return false
}
