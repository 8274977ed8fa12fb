// Gatekeeper: evaluating an environment's objects against its constraints.

package policy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/rego"
)

// envGatekeeper is what applies to one environment: the policy directories'
// templates and constraints plus those in the files the environment
// renders, read from the trusted source.
type envGatekeeper struct {
	templates   map[string]*gkTemplate
	constraints []*gkConstraint
	nsLabels    map[string]map[string]string
	inventory   map[string]any
	// invKey digests the inventory (inventoryKey).
	invKey    string
	finds     []checks.Finding
	undecided map[string]bool
}

func (s *Stage) envGatekeeper(ctx context.Context, env checks.Env, res *render.Result, vs *engine.Verdicts) *envGatekeeper {
	eg := &envGatekeeper{undecided: map[string]bool{}}
	templates := append([]*gkTemplate{}, s.gk.templates...)
	constraints := append([]*gkConstraint{}, s.gk.constraints...)
	var local []*gkConstraint
	for _, f := range res.Files {
		if !isYAML(f) || s.trusted == nil {
			continue
		}
		d := s.repoDocs(f, vs)
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
		eg.invKey = inventoryKey(res.Resources)
	}
	return eg
}

// inventoryKey digests what inventory builds data.inventory from: every
// resource's identity and content, in order. A resource the digest cannot
// cover makes a key no other inventory has.
func inventoryKey(rs []*checks.Resource) string {
	h := sha256.New()
	for _, r := range rs {
		sum, ok := engine.ResourceDigest(r)
		if !ok {
			rand.Read(sum[:])
		}
		fmt.Fprintf(h, "%q %q %q %q %q %x\n", r.ID.Group, r.ID.Version, r.ID.Kind, r.ID.Namespace, r.ID.Name, sum)
	}
	return string(h.Sum(nil))
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
		// The query holds this environment's inventory: the same
		// environment name at the base and the head of a change has
		// two.
		envKey = ev.env.Name + "\x00" + eg.invKey
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
