package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/rego"
)

// evaluation is one environment's policy run.
type evaluation struct {
	ctx    context.Context
	s      *Stage
	env    checks.Env
	res    *render.Result
	inputs []ast.Value
	// converted marks the inputs made (or refused): a resource whose
	// verdicts all come from the run's store is not converted.
	converted []bool
	gk        *envGatekeeper

	mu   sync.Mutex
	out  []checks.Finding
	errs map[string]*errAgg
	// dead marks evaluation keys (a unit or a package) that ran past their
	// deadline: they are not evaluated again in this environment, and the
	// resources they skip are counted in the timeout finding.
	dead map[string]*errAgg

	// vs is the run's verdict store (nil: evaluate everything); dataSum
	// digests data.gate, envSum every resource (reuse.go).
	vs      *engine.Verdicts
	dataSum string
	envOnce sync.Once
	envSum  []byte
	envOK   bool
}

// errAgg aggregates one policy error over the resources it happened on, so
// a policy that fails on every object is one finding with a count, not ten
// thousand.
type errAgg struct {
	finding checks.Finding
	count   int
	skipped int
}

func newEvaluation(ctx context.Context, s *Stage, env checks.Env, res *render.Result, vs *engine.Verdicts) *evaluation {
	return &evaluation{ctx: ctx, s: s, env: env, res: res, errs: map[string]*errAgg{}, dead: map[string]*errAgg{},
		vs: vs, dataSum: gateDigest(s.gateData(env))}
}

func (ev *evaluation) run() {
	rs := ev.res.Resources
	ev.inputs = make([]ast.Value, len(rs))
	ev.converted = make([]bool, len(rs))
	var resUnits, envUnits []*unit
	for _, u := range ev.s.units {
		if u.scope == ScopeEnvironment || u.scope == ScopeCombine {
			envUnits = append(envUnits, u)
		} else {
			resUnits = append(resUnits, u)
		}
	}
	keys := ev.checkKeys(resUnits, envUnits)
	ev.vs.Prefetch(keys)
	defer ev.vs.Persist(keys)
	ev.gk = ev.s.envGatekeeper(ev.ctx, ev.env, ev.res, ev.vs)
	ev.add(ev.gk.finds...)
	par := ev.s.opts.Parallelism
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Go(func() {
			for i := range next {
				if ev.fromCache(resUnits, i) {
					continue
				}
				v, ok := ev.input(i)
				if !ok {
					continue
				}
				for _, u := range resUnits {
					ev.evalUnit(u, i, v)
				}
				ev.gk.evalResource(ev, i, v)
			}
		})
	}
	for i := range rs {
		if ev.ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if len(envUnits) > 0 {
		ev.runEnv(envUnits)
	}
}

// input converts resource i for the policies (once: only the worker given
// i, or runEnv after every worker is done, calls it); false, with a
// finding, when it cannot be.
func (ev *evaluation) input(i int) (ast.Value, bool) {
	r := ev.res.Resources[i]
	ev.converted[i] = true
	v, err := toValue(r.Object)
	if err != nil {
		ev.add(checks.Finding{Check: Name, RuleID: RuleEval, Severity: checks.SeverityError, Env: ev.env.Name, Resource: &r.ID, Message: fmt.Sprintf("cannot give this object to the policies: %v", err), Origin: r.Origin})
		return nil, false
	}
	ev.inputs[i] = v
	return v, true
}

// runEnv evaluates the environment-scoped units (those the run's verdicts
// do not hold) over every object of the environment.
func (ev *evaluation) runEnv(envUnits []*unit) {
	var todo []*unit
	for _, u := range envUnits {
		if !ev.fromCache([]*unit{u}, -1) {
			todo = append(todo, u)
		}
	}
	if len(todo) == 0 {
		return
	}
	terms := make([]*ast.Term, 0, len(ev.inputs))
	for i, v := range ev.inputs {
		if !ev.converted[i] {
			v, _ = ev.input(i)
		}
		if v == nil {
			v = ast.Null{}
		}
		terms = append(terms, ast.NewTerm(v))
	}
	input := ast.NewObject([2]*ast.Term{ast.StringTerm("resources"), ast.ArrayTerm(terms...)})
	var combined ast.Value
	var ewg sync.WaitGroup
	for _, u := range todo {
		in := ast.Value(input)
		if u.scope == ScopeCombine {
			if combined == nil {
				combined = ev.combinedInput()
			}
			in = combined
		}
		ewg.Go(func() { ev.evalUnit(u, -1, in) })
	}
	ewg.Wait()
}

// combinedInput is conftest --combine's input over the environment: one
// {path, contents} per object, path being the repo-relative file it came
// from, sorted by path (stable: objects of one file keep their order, as the
// documents of a multi-document file do in conftest).
func (ev *evaluation) combinedInput() ast.Value {
	type entry struct {
		path string
		v    ast.Value
	}
	entries := make([]entry, 0, len(ev.inputs))
	for i, v := range ev.inputs {
		if v == nil {
			continue
		}
		entries = append(entries, entry{path: ev.res.Resources[i].Origin.File, v: v})
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].path < entries[j].path })
	terms := make([]*ast.Term, 0, len(entries))
	for _, e := range entries {
		terms = append(terms, ast.ObjectTerm(
			[2]*ast.Term{ast.StringTerm("path"), ast.StringTerm(e.path)},
			[2]*ast.Term{ast.StringTerm("contents"), ast.NewTerm(e.v)},
		))
	}
	return ast.NewArray(terms...)
}

func (ev *evaluation) add(fs ...checks.Finding) {
	if len(fs) == 0 {
		return
	}
	ev.mu.Lock()
	ev.out = append(ev.out, fs...)
	ev.mu.Unlock()
}

// findings returns the rule findings plus one finding per distinct policy
// error and per timeout.
func (ev *evaluation) findings() []checks.Finding {
	out := ev.out
	keys := make([]string, 0, len(ev.errs))
	for k := range ev.errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := ev.errs[k]
		f := a.finding
		if a.count > 1 {
			f.Message += fmt.Sprintf(" (and on %d more resource(s))", a.count-1)
		}
		if a.skipped > 0 {
			f.Message += fmt.Sprintf("; not evaluated on the %d remaining resource(s) of this environment", a.skipped)
		}
		out = append(out, f)
	}
	return out
}

func (ev *evaluation) resource(i int) *checks.Resource {
	if i < 0 || i >= len(ev.res.Resources) {
		return nil
	}
	return ev.res.Resources[i]
}

// evalUnit evaluates u over one resource (i >= 0) or the environment (i < 0).
func (ev *evaluation) evalUnit(u *unit, i int, input ast.Value) {
	key := u.name
	ev.mu.Lock()
	dead := ev.dead[key]
	ev.mu.Unlock()
	if dead != nil && len(u.pkgs) == 1 {
		ev.mu.Lock()
		dead.skipped++
		ev.mu.Unlock()
		return
	}
	if dead == nil {
		rs, err := ev.cached(u, i, input)
		if err == nil {
			ev.decodeAll(u, rs, i)
			return
		}
		if len(u.pkgs) == 1 {
			ev.recordErr(u, u.pkgs[0], i, err)
			return
		}
		var ee *rego.EvalError
		if errors.As(err, &ee) && ee.Timeout {
			// The combined query of a multi-package unit timed out: from now
			// on its packages are evaluated one by one, so the slow one is
			// named and the others still run.
			ev.mu.Lock()
			ev.dead[key] = &errAgg{}
			ev.mu.Unlock()
		}
	}
	for _, p := range u.pkgs {
		ev.evalUnit(u.single(p), i, input)
	}
}

func (ev *evaluation) eval(u *unit, input ast.Value) (resultSet, error) {
	q, err := ev.s.query(ev.ctx, u.name+"\x00"+ev.env.Name+"\x00"+ev.dataSum, u.compiled, u.query, func() map[string]any { return ev.s.envData(ev.env) })
	if err != nil {
		return nil, err
	}
	if u.scope == ScopeEnvironment || u.scope == ScopeCombine {
		q = q.WithTimeout(envTimeout(q.Timeout(), len(ev.res.Resources)))
	}
	rs, err := q.Eval(ev.ctx, input)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, nil
	}
	return rs[0].Bindings, nil
}

type resultSet = map[string]any

// envTimeoutPer is how many objects an environment-scoped evaluation gets
// the per-evaluation deadline for: it reads the whole environment in one
// evaluation, so its deadline grows with the environment (a loop is still
// stopped; a big environment on a busy machine is not).
const envTimeoutPer = 1000

func envTimeout(base time.Duration, objects int) time.Duration {
	if objects <= envTimeoutPer {
		return base
	}
	return base * time.Duration(objects) / envTimeoutPer
}

func (ev *evaluation) recordErr(u *unit, p *pkgInfo, i int, err error) {
	var ee *rego.EvalError
	var prob rego.Problem
	timeout := false
	switch {
	case errors.As(err, &ee):
		prob, timeout = ee.Problem, ee.Timeout
	case errors.As(err, &prob):
	default:
		prob = rego.Problem{Msg: err.Error()}
	}
	file, line := prob.File, prob.Line
	if file == "" {
		file = p.file
	}
	rule := RuleEval
	if timeout {
		rule = RuleTimeout
	}
	target := "this environment"
	var rid *checks.ResourceID
	if r := ev.resource(i); r != nil {
		target = r.ID.String()
		rid = &r.ID
	}
	msg := prob.Msg
	if prob.Code != "" && !timeout {
		msg = prob.Code + ": " + msg
	}
	f := checks.Finding{Check: Name, RuleID: rule, Severity: checks.SeverityError, Env: ev.env.Name, Resource: rid,
		Message: fmt.Sprintf("policy %s failed on %s: %s", p.name, target, msg), Origin: checks.Origin{File: file, Line: line}}
	key := u.name + "\x00" + prob.Error()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	a := ev.errs[key]
	if a == nil {
		a = &errAgg{finding: f}
		ev.errs[key] = a
	}
	a.count++
	if timeout {
		ev.dead[u.name] = a
	}
}

func (ev *evaluation) decodeAll(u *unit, rs resultSet, i int) {
	// conftest's exceptions: a rule whose name (without its deny_,
	// violation_ or warn_ prefix) the package's exception rule lists for
	// this input is excepted, every result of it.
	excepted := map[*pkgInfo]map[string]bool{}
	for _, b := range u.binds {
		if !b.exception {
			continue
		}
		names, _ := rs[b.v].([]any)
		for _, n := range names {
			if s, ok := n.(string); ok {
				if excepted[b.pkg] == nil {
					excepted[b.pkg] = map[string]bool{}
				}
				excepted[b.pkg][s] = true
			}
		}
	}
	var fs []checks.Finding
	for _, b := range u.binds {
		if b.exception {
			continue
		}
		wrapped, _ := rs[b.v].([]any)
		if len(wrapped) == 0 {
			continue
		}
		got := ev.decode(b.pkg, b.rule, wrapped[0], i)
		if name := exceptionName(b.rule); excepted[b.pkg][name] {
			// Shown as waived, never dropped: conftest lists exceptions
			// (EXCP) and counts them apart from failures and warnings.
			for k := range got {
				got[k].Waived = fmt.Sprintf("conftest exception: data.%s.exception contains %q (%s)", b.pkg.name, name, b.pkg.exception)
			}
		}
		fs = append(fs, got...)
	}
	ev.add(fs...)
}

// decode turns a rule's value into findings. Conftest rules produce
// strings or objects with msg; gate's extensions: path (the field to blame)
// and, for environment-scoped rules, resource (an index into
// input.resources or {kind, namespace, name}).
func (ev *evaluation) decode(p *pkgInfo, rule string, val any, i int) []checks.Finding {
	var items []any
	switch v := val.(type) {
	case []any:
		items = v
	case bool:
		if !v {
			return nil
		}
		items = []any{fmt.Sprintf("%s.%s is true", p.name, rule)}
	case nil:
		return nil
	default:
		items = []any{v}
	}
	id := p.ruleID(rule)
	sev := ev.s.severityFor(ev.env.Name, id, p.defaultSeverity(rule))
	if sev == checks.SeverityNone {
		return nil
	}
	out := make([]checks.Finding, 0, len(items))
	for _, it := range items {
		f := checks.Finding{Check: Name, RuleID: id, Severity: sev, Env: ev.env.Name, HelpURL: p.help}
		var path []string
		r := ev.resource(i)
		switch x := it.(type) {
		case string:
			f.Message = x
		case map[string]any:
			f.Message, _ = x["msg"].(string)
			if f.Message == "" {
				b, _ := json.Marshal(x)
				f.Message = string(b)
			}
			path = fieldPath(x["path"])
			if i < 0 {
				r = ev.lookup(x["resource"])
			}
			f.Details = extraFields(x)
		default:
			b, _ := json.Marshal(x)
			f.Message = string(b)
		}
		if r != nil {
			f.Resource = &r.ID
			f.Origin = r.Origin
			if len(path) > 0 {
				f.Path = dotted(path)
				f.Origin = ev.res.Locate(r, path)
			}
		} else {
			f.Origin = checks.Origin{File: ev.env.Path}
		}
		out = append(out, f)
	}
	return out
}

// extraFields are the fields of a conftest verdict object other than the
// ones gate reads (msg, path, resource), kept as the finding's details the
// way conftest keeps them as metadata.
func extraFields(x map[string]any) map[string]any {
	var out map[string]any
	for k, v := range x {
		switch k {
		case "msg", "path", "resource":
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[k] = v
	}
	return out
}

// lookup finds the resource an environment-scoped finding names.
func (ev *evaluation) lookup(v any) *checks.Resource {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return ev.resource(int(n))
		}
	case float64:
		return ev.resource(int(x))
	case int:
		return ev.resource(x)
	case map[string]any:
		kind, _ := x["kind"].(string)
		name, _ := x["name"].(string)
		ns, _ := x["namespace"].(string)
		for _, r := range ev.res.Resources {
			if r.ID.Kind == kind && r.ID.Name == name && r.ID.Namespace == ns {
				return r
			}
		}
	}
	return nil
}

// fieldPath reads a path given as a list of keys and indexes or as a dotted
// string.
func fieldPath(v any) []string {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, s := range x {
			switch t := s.(type) {
			case string:
				out = append(out, t)
			case json.Number:
				out = append(out, t.String())
			default:
				out = append(out, fmt.Sprint(t))
			}
		}
		return out
	case string:
		if x == "" {
			return nil
		}
		x = strings.NewReplacer("[", ".", "]", "").Replace(x)
		return strings.Split(x, ".")
	}
	return nil
}

// dotted renders a field path as spec.containers[0].image.
func dotted(path []string) string {
	var b strings.Builder
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}
