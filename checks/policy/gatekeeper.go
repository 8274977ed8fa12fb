package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/rego"
)

// Gatekeeper enforcement actions.
const (
	ActionDeny   = "deny"
	ActionWarn   = "warn"
	ActionDryRun = "dryrun"
)

// gkTemplate is a compiled ConstraintTemplate.
type gkTemplate struct {
	kind      string
	name      string
	origin    checks.Origin
	compiled  *rego.Compiled
	pkg       string
	inventory bool
}

// gkConstraint is one constraint: a template kind with parameters and a match.
type gkConstraint struct {
	kind, name string
	origin     checks.Origin
	action     string
	match      gkMatch
	params     ast.Value
}

func (c *gkConstraint) id() string { return c.kind + "/" + c.name }

func (c *gkConstraint) severity() checks.Severity {
	switch c.action {
	case ActionWarn:
		return checks.SeverityWarning
	case ActionDryRun:
		return checks.SeverityNotice
	}
	return checks.SeverityError
}

// gkMatch is Gatekeeper's match block.
type gkMatch struct {
	Kinds []struct {
		APIGroups []string `json:"apiGroups"`
		Kinds     []string `json:"kinds"`
	} `json:"kinds"`
	Scope              string      `json:"scope"`
	Namespaces         []string    `json:"namespaces"`
	ExcludedNamespaces []string    `json:"excludedNamespaces"`
	LabelSelector      *gkSelector `json:"labelSelector"`
	NamespaceSelector  *gkSelector `json:"namespaceSelector"`
	Name               string      `json:"name"`
}

type gkSelector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values"`
	} `json:"matchExpressions"`
}

func (s *gkSelector) matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		v, has := labels[e.Key]
		in := false
		for _, x := range e.Values {
			if x == v {
				in = true
			}
		}
		switch e.Operator {
		case "In":
			if !has || !in {
				return false
			}
		case "NotIn":
			if has && in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// wildcard matches Gatekeeper's prefix (kube-*) and suffix (*-system) globs.
func wildcard(pattern, s string) bool {
	switch {
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(s, strings.TrimSuffix(pattern, "*"))
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(s, strings.TrimPrefix(pattern, "*"))
	}
	return pattern == s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// matchResult says whether a constraint applies to an object; undecidable
// when it depends on the labels of a namespace the environment does not render.
type matchResult int

const (
	noMatch matchResult = iota
	matched
	undecidable
)

// matches applies the match block the way Gatekeeper does. nsLabels holds
// the labels of the Namespaces the environment renders.
func (m *gkMatch) matches(r *checks.Resource, labels map[string]string, nsLabels map[string]map[string]string) matchResult {
	isNS := r.ID.Kind == "Namespace" && r.ID.Group == ""
	if len(m.Kinds) > 0 {
		ok := false
		for _, k := range m.Kinds {
			kindOK := len(k.Kinds) == 0 || contains(k.Kinds, "*") || contains(k.Kinds, r.ID.Kind)
			groupOK := len(k.APIGroups) == 0 || contains(k.APIGroups, "*") || contains(k.APIGroups, r.ID.Group)
			if kindOK && groupOK {
				ok = true
				break
			}
		}
		if !ok {
			return noMatch
		}
	}
	hasNS := r.ID.Namespace != ""
	switch m.Scope {
	case "Cluster":
		if !(isNS || !hasNS) {
			return noMatch
		}
	case "Namespaced":
		if isNS || !hasNS {
			return noMatch
		}
	}
	ns := r.ID.Namespace
	if isNS {
		ns = r.ID.Name
	}
	if len(m.Namespaces) > 0 && ns != "" {
		ok := false
		for _, n := range m.Namespaces {
			if wildcard(n, ns) {
				ok = true
			}
		}
		if !ok {
			return noMatch
		}
	}
	if ns != "" {
		for _, n := range m.ExcludedNamespaces {
			if wildcard(n, ns) {
				return noMatch
			}
		}
	}
	if m.LabelSelector != nil && !m.LabelSelector.matches(labels) {
		return noMatch
	}
	if m.NamespaceSelector != nil {
		switch {
		case isNS:
			if !m.NamespaceSelector.matches(labels) {
				return noMatch
			}
		case !hasNS:
			// cluster-scoped objects match, as in Gatekeeper
		default:
			nl, ok := nsLabels[r.ID.Namespace]
			if !ok {
				return undecidable
			}
			if !m.NamespaceSelector.matches(nl) {
				return noMatch
			}
		}
	}
	if m.Name != "" && !wildcard(m.Name, r.ID.Name) {
		return noMatch
	}
	return matched
}

// gkDocs are the templates and constraints of a set of files.
type gkDocs struct {
	templates   []*gkTemplate
	constraints []*gkConstraint
	finds       []checks.Finding
}

// gatekeeper holds the templates and constraints of the policy directories.
type gatekeeper struct {
	gkDocs
	trusted source.Source
}

func newGatekeeper(files []policyFile, trusted source.Source) (*gatekeeper, []checks.Finding) {
	g := &gatekeeper{trusted: trusted}
	for _, f := range files {
		d := parseGatekeeper(f)
		g.templates = append(g.templates, d.templates...)
		g.constraints = append(g.constraints, d.constraints...)
		g.finds = append(g.finds, d.finds...)
	}
	byKind := templatesByKind(g.templates)
	var finds []checks.Finding
	finds = append(finds, g.finds...)
	for _, c := range g.constraints {
		if byKind[c.kind] == nil {
			finds = append(finds, missingTemplate(c))
		}
	}
	g.finds = nil
	return g, finds
}

func missingTemplate(c *gkConstraint) checks.Finding {
	return checks.Finding{Check: Name, RuleID: RuleNoTemplate, Severity: checks.SeverityError, Origin: c.origin,
		Message: fmt.Sprintf("constraint %s has no ConstraintTemplate defining kind %s, so it checks nothing", c.name, c.kind)}
}

func templatesByKind(ts []*gkTemplate) map[string]*gkTemplate {
	m := map[string]*gkTemplate{}
	for _, t := range ts {
		m[t.kind] = t
	}
	return m
}

// parseGatekeeper reads ConstraintTemplates and constraints from one YAML
// file. Template Rego is compiled here, with its line numbers mapped to the
// YAML file.
func parseGatekeeper(f policyFile) *gkDocs {
	d := &gkDocs{}
	docs, err := render.ParseDocs(f.path, f.data, render.DefaultLimits())
	if err != nil {
		d.finds = append(d.finds, loadFinding(f.path, 0, err.Error()))
		return d
	}
	for _, doc := range docs {
		var obj map[string]any
		if err := doc.Node.Decode(&obj); err != nil {
			continue
		}
		origin := checks.Origin{File: f.path, Line: doc.Line}
		group, _ := checks.ParseAPIVersion(doc.APIVersion)
		switch {
		case doc.Kind == "ConstraintTemplate" && group == "templates.gatekeeper.sh":
			t, fs := parseTemplate(f.path, doc, obj, origin)
			d.finds = append(d.finds, fs...)
			if t != nil {
				d.templates = append(d.templates, t)
			}
		case group == "constraints.gatekeeper.sh":
			c, err := parseConstraint(doc, obj, origin)
			if err != nil {
				d.finds = append(d.finds, loadFinding(f.path, doc.Line, err.Error()))
				continue
			}
			d.constraints = append(d.constraints, c)
		}
	}
	return d
}

func dig(n *yaml.Node, keys ...any) *yaml.Node {
	for _, k := range keys {
		if n == nil {
			return nil
		}
		switch key := k.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return nil
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					next = n.Content[i+1]
				}
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || key >= len(n.Content) {
				return nil
			}
			n = n.Content[key]
		}
	}
	return n
}

// regoOffset is the line offset of a Rego string inside YAML: a block
// scalar (|) starts on the line after its indicator.
func regoOffset(n *yaml.Node) int {
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Line
	}
	return n.Line - 1
}

func parseTemplate(file string, doc render.Doc, obj map[string]any, origin checks.Origin) (*gkTemplate, []checks.Finding) {
	kindNode := dig(doc.Node, "spec", "crd", "spec", "names", "kind")
	if kindNode == nil || kindNode.Value == "" {
		return nil, []checks.Finding{loadFinding(file, origin.Line, "ConstraintTemplate has no spec.crd.spec.names.kind")}
	}
	target := dig(doc.Node, "spec", "targets", 0)
	if target == nil {
		return nil, []checks.Finding{loadFinding(file, origin.Line, "ConstraintTemplate has no spec.targets")}
	}
	var files []rego.File
	version := ast.RegoV0
	main := dig(target, "rego")
	libs := dig(target, "libs")
	if main == nil {
		// Gatekeeper v3.19+: code: [{engine: Rego, source: {rego, libs, version}}]
		if code := dig(target, "code"); code != nil {
			for _, c := range code.Content {
				eng := dig(c, "engine")
				if eng != nil && eng.Value == "Rego" {
					main = dig(c, "source", "rego")
					libs = dig(c, "source", "libs")
					if v := dig(c, "source", "version"); v != nil && v.Value == "v1" {
						version = ast.RegoV1
					}
				}
			}
		}
	}
	if main == nil {
		return nil, []checks.Finding{{Check: Name, RuleID: RuleLoad, Severity: checks.SeverityWarning, Origin: origin,
			Message: fmt.Sprintf("ConstraintTemplate %s has no Rego source (only CEL?); gate evaluates Rego templates only", doc.Name)}}
	}
	id := fmt.Sprintf("%s#%d", file, doc.Index)
	files = append(files, rego.File{Path: file, ID: id, Src: []byte(main.Value), LineOffset: regoOffset(main), Version: version})
	if libs != nil {
		for i, l := range libs.Content {
			files = append(files, rego.File{Path: file, ID: fmt.Sprintf("%s/lib%d", id, i), Src: []byte(l.Value), LineOffset: regoOffset(l), Version: version})
		}
	}
	c, probs := rego.Compile(files, rego.CompileOptions{NoStrict: true})
	if len(probs) > 0 {
		return nil, problemFindings(probs)
	}
	m := c.Modules[id]
	pkg := rego.PackageName(m.Package.Path)
	if !contains(c.Rules(m.Package.Path), "violation") {
		return nil, []checks.Finding{loadFinding(file, regoOffset(main)+1, fmt.Sprintf("ConstraintTemplate %s: package %s has no violation rule", doc.Name, pkg))}
	}
	return &gkTemplate{kind: kindNode.Value, name: doc.Name, origin: origin, compiled: c, pkg: pkg,
		inventory: strings.Contains(main.Value, "data.inventory")}, nil
}

func parseConstraint(doc render.Doc, obj map[string]any, origin checks.Origin) (*gkConstraint, error) {
	c := &gkConstraint{kind: doc.Kind, name: doc.Name, origin: origin, action: ActionDeny}
	spec, _ := obj["spec"].(map[string]any)
	if a, ok := spec["enforcementAction"].(string); ok && a != "" {
		a = strings.ToLower(a)
		switch a {
		case ActionDeny, ActionWarn, ActionDryRun:
			c.action = a
		default:
			return nil, fmt.Errorf("constraint %s: enforcementAction %q: gate knows deny, warn and dryrun", doc.Name, a)
		}
	}
	if m, ok := spec["match"]; ok {
		b, err := json.Marshal(m)
		if err == nil {
			err = json.Unmarshal(b, &c.match)
		}
		if err != nil {
			return nil, fmt.Errorf("constraint %s: match: %v", doc.Name, err)
		}
	}
	params := spec["parameters"]
	if params == nil {
		params = map[string]any{}
	}
	v, err := ast.InterfaceToValue(params)
	if err != nil {
		return nil, fmt.Errorf("constraint %s: parameters: %v", doc.Name, err)
	}
	c.params = v
	return c, nil
}

// envGatekeeper is what applies to one environment: the policy directories'
// templates and constraints plus those in the files the environment
// renders, read from the trusted source.
type envGatekeeper struct {
	templates   map[string]*gkTemplate
	constraints []*gkConstraint
	nsLabels    map[string]map[string]string
	inventory   map[string]any
	finds       []checks.Finding
	undecided   map[string]bool
}

func (s *Stage) envGatekeeper(ctx context.Context, env checks.Env, res *render.Result) *envGatekeeper {
	eg := &envGatekeeper{undecided: map[string]bool{}}
	templates := append([]*gkTemplate{}, s.gk.templates...)
	constraints := append([]*gkConstraint{}, s.gk.constraints...)
	var local []*gkConstraint
	for _, f := range res.Files {
		if !isYAML(f) || s.trusted == nil {
			continue
		}
		d := s.repoDocs(f)
		if d == nil {
			continue
		}
		templates = append(templates, d.templates...)
		local = append(local, d.constraints...)
		eg.finds = append(eg.finds, d.finds...)
	}
	eg.templates = templatesByKind(templates)
	for _, c := range local {
		if eg.templates[c.kind] == nil {
			eg.finds = append(eg.finds, missingTemplate(c))
		}
	}
	constraints = append(constraints, local...)
	for _, c := range constraints {
		if eg.templates[c.kind] != nil {
			eg.constraints = append(eg.constraints, c)
		}
	}
	for i := range eg.finds {
		eg.finds[i].Env = env.Name
	}
	if len(eg.constraints) == 0 {
		return eg
	}
	eg.nsLabels = map[string]map[string]string{}
	needInv := false
	for _, c := range eg.constraints {
		if eg.templates[c.kind].inventory {
			needInv = true
		}
	}
	for _, r := range res.Resources {
		if r.ID.Kind == "Namespace" && r.ID.Group == "" {
			eg.nsLabels[r.ID.Name] = labelsOf(r.Object)
		}
	}
	if needInv {
		eg.inventory = inventory(res.Resources)
	}
	return eg
}

// repoDocs parses the Gatekeeper documents of one repo file, as the trusted
// source has it, once per content.
func (s *Stage) repoDocs(file string) *gkDocs {
	// The trusted source never changes for a Stage: a file every
	// environment reads (a shared base) is read and parsed once.
	s.mu.Lock()
	d, seen := s.repoPath[file]
	s.mu.Unlock()
	if seen {
		return d
	}
	d = s.readRepoDocs(file)
	s.mu.Lock()
	if s.repoPath == nil {
		s.repoPath = map[string]*gkDocs{}
	}
	s.repoPath[file] = d
	s.mu.Unlock()
	return d
}

func (s *Stage) readRepoDocs(file string) *gkDocs {
	b, err := s.trusted.ReadFile(file)
	if err != nil || !isGatekeeperYAML(b) {
		return nil
	}
	key := file + "\x00" + source.BlobHash(b)
	s.mu.Lock()
	d, ok := s.repoGK[key]
	s.mu.Unlock()
	if ok {
		return d
	}
	d = parseGatekeeper(policyFile{path: file, data: b})
	s.mu.Lock()
	s.repoGK[key] = d
	s.mu.Unlock()
	return d
}

// inventory is Gatekeeper's data.inventory (referential data) built from the
// rendered environment, the way the cluster would have it after a sync.
func inventory(rs []*checks.Resource) map[string]any {
	cluster := map[string]any{}
	namespaced := map[string]any{}
	put := func(root map[string]any, keys []string, v any) {
		m := root
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[keys[len(keys)-1]] = v
	}
	for _, r := range rs {
		gv := r.ID.APIVersion()
		if r.ID.Namespace == "" {
			put(cluster, []string{gv, r.ID.Kind, r.ID.Name}, r.Object)
		} else {
			put(namespaced, []string{r.ID.Namespace, gv, r.ID.Kind, r.ID.Name}, r.Object)
		}
	}
	return map[string]any{"cluster": cluster, "namespace": namespaced}
}

func labelsOf(obj map[string]any) map[string]string {
	md, _ := obj["metadata"].(map[string]any)
	ls, _ := md["labels"].(map[string]any)
	out := make(map[string]string, len(ls))
	for k, v := range ls {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// review is Gatekeeper's input.review for an object, as gator builds it for
// a CREATE.
func review(r *checks.Resource, obj ast.Value) ast.Value {
	kind := ast.NewObject(
		[2]*ast.Term{ast.StringTerm("group"), ast.StringTerm(r.ID.Group)},
		[2]*ast.Term{ast.StringTerm("version"), ast.StringTerm(r.ID.Version)},
		[2]*ast.Term{ast.StringTerm("kind"), ast.StringTerm(r.ID.Kind)},
	)
	return ast.NewObject(
		[2]*ast.Term{ast.StringTerm("kind"), ast.NewTerm(kind)},
		[2]*ast.Term{ast.StringTerm("name"), ast.StringTerm(r.ID.Name)},
		[2]*ast.Term{ast.StringTerm("namespace"), ast.StringTerm(r.ID.Namespace)},
		[2]*ast.Term{ast.StringTerm("operation"), ast.StringTerm("CREATE")},
		[2]*ast.Term{ast.StringTerm("object"), ast.NewTerm(obj)},
	)
}

// evalResource applies every matching constraint to one resource.
func (eg *envGatekeeper) evalResource(ev *evaluation, i int, obj ast.Value) {
	if len(eg.constraints) == 0 {
		return
	}
	r := ev.res.Resources[i]
	labels := labelsOf(r.Object)
	var rv ast.Value
	for _, c := range eg.constraints {
		switch c.match.matches(r, labels, eg.nsLabels) {
		case noMatch:
			continue
		case undecidable:
			key := c.id() + "\x00" + r.ID.Namespace
			ev.mu.Lock()
			seen := eg.undecided[key]
			eg.undecided[key] = true
			ev.mu.Unlock()
			if !seen {
				ev.add(checks.Finding{Check: Name, RuleID: RuleUndecidable, Severity: checks.SeverityNotice, Env: ev.env.Name, Origin: c.origin,
					Message: fmt.Sprintf("constraint %s has a namespaceSelector, but namespace %q is not rendered in this environment, so its labels are unknown; the constraint was not applied to objects in it", c.id(), r.ID.Namespace)})
			}
			continue
		}
		if rv == nil {
			rv = review(r, obj)
		}
		ev.evalConstraint(eg, c, i, rv)
	}
}

func (ev *evaluation) evalConstraint(eg *envGatekeeper, c *gkConstraint, i int, rv ast.Value) {
	t := eg.templates[c.kind]
	p := &pkgInfo{name: t.pkg, file: t.origin.File}
	u := &unit{name: "gatekeeper/" + c.id(), compiled: t.compiled, scope: ScopeResource, pkgs: []*pkgInfo{p}}
	ev.mu.Lock()
	dead := ev.dead[u.name]
	if dead != nil {
		dead.skipped++
	}
	ev.mu.Unlock()
	if dead != nil {
		return
	}
	envKey := ""
	if t.inventory {
		envKey = ev.env.Name
	}
	q, err := ev.s.query(ev.ctx, "gk\x00"+t.origin.String()+"\x00"+t.kind+"\x00"+envKey, t.compiled, "r := [x | x := "+rego.PackageRef(t.pkg, "violation")+"]", func() map[string]any {
		if t.inventory {
			return map[string]any{"inventory": eg.inventory}
		}
		return nil
	})
	if err != nil {
		ev.recordErr(u, p, i, err)
		return
	}
	input := ast.NewObject(
		[2]*ast.Term{ast.StringTerm("review"), ast.NewTerm(rv)},
		[2]*ast.Term{ast.StringTerm("parameters"), ast.NewTerm(c.params)},
	)
	rs, err := q.Eval(ev.ctx, input)
	if err != nil {
		ev.recordErr(u, p, i, err)
		return
	}
	if len(rs) == 0 {
		return
	}
	wrapped, _ := rs[0].Bindings["r"].([]any)
	if len(wrapped) == 0 {
		return
	}
	items, _ := wrapped[0].([]any)
	sev := ev.s.severityFor(ev.env.Name, c.id(), c.severity())
	if sev == checks.SeverityNone {
		return
	}
	r := ev.res.Resources[i]
	var fs []checks.Finding
	for _, it := range items {
		msg := ""
		var details map[string]any
		if m, ok := it.(map[string]any); ok {
			msg, _ = m["msg"].(string)
			if d, ok := m["details"].(map[string]any); ok && len(d) > 0 {
				details = d
			}
		}
		if msg == "" {
			b, _ := json.Marshal(it)
			msg = string(b)
		}
		if c.action == ActionDryRun {
			msg = "[dryrun] " + msg
		}
		fs = append(fs, checks.Finding{Check: Name, RuleID: c.id(), Severity: sev, Env: ev.env.Name, Resource: &r.ID, Message: msg, Origin: r.Origin, Details: details})
	}
	sort.Slice(fs, func(a, b int) bool { return fs[a].Message < fs[b].Message })
	ev.add(fs...)
}
