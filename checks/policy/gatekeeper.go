package policy

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
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

// repoDocs parses the Gatekeeper documents of one repo file, as the trusted
// source has it, once per content.
// vs, when set, holds what earlier checks learnt of the file's content.
func (s *Stage) repoDocs(file string, vs *engine.Verdicts) *gkDocs {
	// The trusted source never changes for a Stage: a file every
	// environment reads (a shared base) is read and parsed once.
	s.mu.Lock()
	d, seen := s.repoPath[file]
	s.mu.Unlock()
	if seen {
		return d
	}
	d = s.readRepoDocsVia(file, vs)
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
	return s.docsOf(file, b, err)
}

// docsOf parses the Gatekeeper documents of a trusted file read as b.
func (s *Stage) docsOf(file string, b []byte, err error) *gkDocs {
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
