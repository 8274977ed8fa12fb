package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/rego"
)

// Scopes a package can declare in METADATA custom.scope.
const (
	ScopeResource    = "resource"
	ScopeEnvironment = "environment"
	// ScopeCombine is a package gate.yaml lists under policies.combine: its
	// input is what conftest --combine gives, a list of {path, contents}.
	ScopeCombine = "combine"
)

// builtinPrefix is the package prefix of the built-in rules.
const builtinPrefix = "gate.builtin."

// ruleNameRe matches conftest's rule names: deny, violation, warn, with an
// optional _suffix (deny_privileged).
var ruleNameRe = regexp.MustCompile(`^(deny|violation|warn)(_[A-Za-z0-9_]+)?$`)

// pkgInfo is one evaluated package and what its METADATA says.
type pkgInfo struct {
	name     string
	file     string
	rules    []string
	id       string
	severity checks.Severity
	// strictSeverity is the built-in rule's severity under
	// policies.builtin: strict (METADATA custom.strictSeverity).
	strictSeverity checks.Severity
	help           string
	title          string
	scope          string
	// ruleIDs and ruleSev hold rule-level METADATA (custom.id, custom.severity).
	ruleIDs map[string]string
	ruleSev map[string]checks.Severity
	// exception is where the package's conftest exception rule is
	// declared (zero when it has none).
	exception checks.Origin
}

// exceptionName is the name conftest looks up in exception for a rule:
// deny_run_as_root is excepted by "run_as_root", a bare deny, violation or
// warn by "" (conftest's removeRulePrefix).
func exceptionName(rule string) string {
	switch rule {
	case "deny", "violation", "warn":
		return ""
	}
	for _, p := range []string{"violation_", "deny_", "warn_"} {
		rule = strings.TrimPrefix(rule, p)
	}
	return rule
}

// ruleID names a rule in findings and gate.yaml: the rule's METADATA id,
// the package's, else package.rule ("main.deny").
func (p *pkgInfo) ruleID(rule string) string {
	if id := p.ruleIDs[rule]; id != "" {
		return id
	}
	if p.id != "" {
		return p.id
	}
	return p.name + "." + rule
}

// defaultSeverity: METADATA custom.severity, else warning for warn rules
// and error for deny and violation.
func (p *pkgInfo) defaultSeverity(rule string) checks.Severity {
	if s := p.ruleSev[rule]; s != checks.SeverityNone {
		return s
	}
	if p.severity != checks.SeverityNone {
		return p.severity
	}
	if strings.HasPrefix(rule, "warn") {
		return checks.SeverityWarning
	}
	return checks.SeverityError
}

// bind ties a query variable to the package rule it reads.
type bind struct {
	v    string
	pkg  *pkgInfo
	rule string
	// exception marks the binding of the package's exception names.
	exception bool
}

// unit is a set of packages evaluated by one query over one input: one
// evaluation per resource (or per environment) however many rules it has.
// When the combined query fails, each package is evaluated alone so the
// error lands on the package that caused it and the others still report.
type unit struct {
	name     string
	compiled *rego.Compiled
	scope    string
	pkgs     []*pkgInfo
	query    string
	binds    []bind
}

func makeQuery(pkgs []*pkgInfo) (string, []bind) {
	var parts []string
	var binds []bind
	for _, p := range pkgs {
		for _, r := range p.rules {
			v := fmt.Sprintf("r%d", len(binds))
			// A comprehension keeps the query defined when a complete rule
			// (deny := ...) is undefined for this input.
			parts = append(parts, fmt.Sprintf("%s := [x | x := %s]", v, rego.PackageRef(p.name, r)))
			binds = append(binds, bind{v: v, pkg: p, rule: r})
		}
		if !p.exception.IsZero() {
			// conftest's exception query, data.pkg.exception[_][_] == name,
			// read once as the list of every name the package excepts.
			v := fmt.Sprintf("r%d", len(binds))
			parts = append(parts, fmt.Sprintf("%s := [x | x := %s[_][_]]", v, rego.PackageRef(p.name, "exception")))
			binds = append(binds, bind{v: v, pkg: p, rule: "exception", exception: true})
		}
	}
	return strings.Join(parts, "; "), binds
}

func newUnit(name string, c *rego.Compiled, scope string, pkgs []*pkgInfo) *unit {
	q, b := makeQuery(pkgs)
	return &unit{name: name, compiled: c, scope: scope, pkgs: pkgs, query: q, binds: b}
}

// single is the unit of one package of u, for error attribution.
func (u *unit) single(p *pkgInfo) *unit {
	return newUnit(u.name+"/"+p.name, u.compiled, u.scope, []*pkgInfo{p})
}

func toRegoFiles(fs []policyFile) []rego.File {
	out := make([]rego.File, 0, len(fs))
	for _, f := range fs {
		rf := rego.File{Path: f.path, Src: f.data}
		if f.v0 {
			rf.Version = ast.RegoV0
		}
		out = append(out, rf)
	}
	return out
}

func problemFindings(probs []rego.Problem) []checks.Finding {
	out := make([]checks.Finding, 0, len(probs))
	for _, p := range probs {
		msg := p.Msg
		if p.Code != "" && !strings.Contains(msg, "not allowed in gate policies") {
			msg = p.Code + ": " + msg
		}
		out = append(out, loadFinding(p.File, p.Line, "policy does not load: "+msg))
	}
	return out
}

// buildUnits compiles the built-in library and the user policies (separately,
// so a broken user policy never switches the built-in rules off) and groups
// their packages into units by scope.
func buildUnits(set *fileSet, cfg *config.Config) ([]*unit, []checks.Finding) {
	var units []*unit
	var finds []checks.Finding
	if len(set.builtin) > 0 {
		c, probs := rego.Compile(toRegoFiles(set.builtin), rego.CompileOptions{})
		if len(probs) > 0 {
			finds = append(finds, problemFindings(probs)...)
		} else {
			pkgs, fs := packages(c, func(name string) bool { return strings.HasPrefix(name, builtinPrefix) })
			finds = append(finds, fs...)
			if cfg.Policies.Builtin.Mode() == config.BuiltinStrict {
				// strict: every rule at its strict severity (the
				// library as it was before the recommended set).
				for _, p := range pkgs {
					if p.strictSeverity != checks.SeverityNone {
						p.severity = p.strictSeverity
					}
				}
			}
			units = append(units, scopeUnits("builtin", c, pkgs)...)
		}
	}
	if len(set.user) > 0 {
		files := append(toRegoFiles(set.user), toRegoFiles(set.lib)...)
		c, probs := rego.Compile(files, rego.CompileOptions{NoStrict: !cfg.Policies.StrictRego()})
		if len(probs) > 0 {
			finds = append(finds, problemFindings(probs)...)
		} else {
			ns := cfg.Policies.Namespaces
			if len(ns) == 0 {
				ns = []string{"main"}
			}
			combine := map[string]bool{}
			for _, n := range cfg.Policies.Combine {
				combine[n] = true
			}
			selected := func(name string) bool {
				if strings.HasPrefix(name, "gate.lib.") {
					return false
				}
				if combine[name] {
					return true // listing a package to combine evaluates it
				}
				for _, n := range ns {
					if n == "*" || n == name {
						return true
					}
				}
				return false
			}
			pkgs, fs := packages(c, selected)
			finds = append(finds, fs...)
			found := map[string]bool{}
			for _, p := range pkgs {
				found[p.name] = true
				if combine[p.name] {
					p.scope = ScopeCombine
				}
			}
			for _, n := range cfg.Policies.Combine {
				if !found[n] {
					f := configFinding(cfg, "policies", fmt.Sprintf("policies.combine names package %q, which no policy declares with deny, violation or warn rules: nothing is evaluated on the combined input", n))
					f.RuleID, f.Severity = RuleUnknownRule, checks.SeverityWarning
					finds = append(finds, f)
				}
			}
			// Packages with rules that the namespaces leave out: say so once,
			// a policy that silently never runs is worse than one that fails.
			all, _ := packages(c, func(name string) bool { return !selected(name) && !strings.HasPrefix(name, "gate.lib.") })
			for _, p := range all {
				finds = append(finds, checks.Finding{Check: Name, RuleID: RuleLoad, Severity: checks.SeverityWarning,
					Message: fmt.Sprintf("package %s defines %s but is not evaluated: policies.namespaces in gate.yaml is %v (use \"*\" for every package)", p.name, strings.Join(p.rules, ", "), ns),
					Origin:  checks.Origin{File: p.file}})
			}
			units = append(units, scopeUnits("user", c, pkgs)...)
		}
	}
	return units, finds
}

func scopeUnits(name string, c *rego.Compiled, pkgs []*pkgInfo) []*unit {
	var res, env, comb []*pkgInfo
	for _, p := range pkgs {
		switch p.scope {
		case ScopeEnvironment:
			env = append(env, p)
		case ScopeCombine:
			comb = append(comb, p)
		default:
			res = append(res, p)
		}
	}
	var out []*unit
	if len(res) > 0 {
		out = append(out, newUnit(name, c, ScopeResource, res))
	}
	if len(env) > 0 {
		out = append(out, newUnit(name+"-env", c, ScopeEnvironment, env))
	}
	if len(comb) > 0 {
		out = append(out, newUnit(name+"-combine", c, ScopeCombine, comb))
	}
	return out
}

// packages reads the packages of c that keep selects and have conftest
// rules, with their METADATA.
func packages(c *rego.Compiled, keep func(string) bool) ([]*pkgInfo, []checks.Finding) {
	byName := map[string]*pkgInfo{}
	var finds []checks.Finding
	ids := make([]string, 0, len(c.Modules))
	for id := range c.Modules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := c.Modules[id]
		name := rego.PackageName(m.Package.Path)
		if !keep(name) {
			continue
		}
		f, _ := c.File(id)
		p := byName[name]
		if p == nil {
			p = &pkgInfo{name: name, file: f.Path, scope: ScopeResource, ruleIDs: map[string]string{}, ruleSev: map[string]checks.Severity{}}
			byName[name] = p
		}
		for _, r := range m.Rules {
			if ref := r.Head.Ref(); len(ref) > 0 && ref[0].Value.Compare(ast.Var("exception")) == 0 && p.exception.IsZero() {
				p.exception = checks.Origin{File: f.Path, Line: r.Location.Row + f.LineOffset}
			}
		}
		for _, a := range m.Annotations {
			finds = append(finds, p.annotate(f.Path, a)...)
		}
	}
	var out []*pkgInfo
	for _, p := range byName {
		for _, r := range c.Rules(pathOf(p.name)) {
			if ruleNameRe.MatchString(r) {
				p.rules = append(p.rules, r)
			}
		}
		if len(p.rules) > 0 {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, finds
}

// annotate reads one METADATA annotation of the package's file into p:
// the package's title, help, id, severities and scope, or a rule's id and
// severity. Values it cannot use are findings.
func (p *pkgInfo) annotate(file string, a *ast.Annotations) []checks.Finding {
	var finds []checks.Finding
	switch a.Scope {
	case "package", "subpackages":
		if a.Title != "" {
			p.title = a.Title
		}
		if len(a.RelatedResources) > 0 && a.RelatedResources[0].Ref.String() != "" {
			p.help = a.RelatedResources[0].Ref.String()
		}
		if v, ok := a.Custom["id"].(string); ok {
			p.id = v
		}
		if v, ok := a.Custom["severity"].(string); ok {
			sev, err := checks.ParseSeverity(v)
			if err != nil {
				finds = append(finds, loadFinding(file, a.Location.Row, "METADATA custom.severity: "+err.Error()))
			}
			p.severity = sev
		}
		if v, ok := a.Custom["strictSeverity"].(string); ok {
			sev, err := checks.ParseSeverity(v)
			if err != nil {
				finds = append(finds, loadFinding(file, a.Location.Row, "METADATA custom.strictSeverity: "+err.Error()))
			}
			p.strictSeverity = sev
		}
		if v, ok := a.Custom["scope"].(string); ok {
			if v != ScopeResource && v != ScopeEnvironment {
				finds = append(finds, loadFinding(file, a.Location.Row, fmt.Sprintf("METADATA custom.scope %q: want resource or environment", v)))
			} else {
				p.scope = v
			}
		}
	case "rule", "document":
		ref := a.GetTargetPath()
		if len(ref) == 0 {
			return finds
		}
		rn := strings.Trim(ref[len(ref)-1].String(), `"`)
		if v, ok := a.Custom["id"].(string); ok {
			p.ruleIDs[rn] = v
		}
		if v, ok := a.Custom["severity"].(string); ok {
			sev, err := checks.ParseSeverity(v)
			if err != nil {
				finds = append(finds, loadFinding(file, a.Location.Row, fmt.Sprintf("METADATA of rule %s: custom.severity: %v", rn, err)))
				return finds
			}
			p.ruleSev[rn] = sev
		}
	}
	return finds
}

func pathOf(pkg string) ast.Ref {
	ref := ast.Ref{ast.DefaultRootDocument}
	for _, part := range strings.Split(pkg, ".") {
		ref = append(ref, ast.StringTerm(part))
	}
	return ref
}
