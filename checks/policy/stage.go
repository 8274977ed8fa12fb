// Package policy is gate's policy stage: it applies Rego policies to every
// rendered resource of an environment and turns their verdicts into
// findings on the source line to change.
//
// Three kinds of policy meet here, all compiled once per run and evaluated
// in parallel with a deadline per evaluation:
//
//   - the built-in library (package policies), one package per rule;
//   - conftest-style policies from the ops repo's policy/ directory (or the
//     directories gate.yaml and --policy name): deny, violation and warn
//     rules in package main or the namespaces gate.yaml lists, over one
//     resource as input, with data.gate describing the environment;
//   - Gatekeeper ConstraintTemplates and constraints, from policy
//     directories and from the files an environment renders, evaluated the
//     way Gatekeeper's gator does (input.review, input.parameters, the
//     constraint's match and enforcementAction).
//
// Policies and gate.yaml always come from the trusted source (the base
// revision of a pull request); see Impact for what a pull request's own
// policy changes would do.
package policy

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/rego"
)

// Name is the check name on policy findings.
const Name = "policy"

// Rule ids of the findings the stage makes about policies themselves.
const (
	RuleLoad          = "policy/load-error"
	RuleEval          = "policy/eval-error"
	RuleTimeout       = "policy/timeout"
	RuleNoTemplate    = "policy/missing-template"
	RuleUndecidable   = "policy/namespace-selector"
	RuleUnknownRule   = "policy/unknown-rule"
	RuleWaiverExpired = "policy/waiver-expired"
	RuleWaiverInvalid = "policy/waiver-invalid"
	RuleWaiverAdded   = "policy/waiver-added"
)

// Dir is a policy directory from outside the trusted source (--policy DIR).
type Dir struct {
	// Name prefixes its files in findings (the path as the user gave it).
	Name string
	Src  source.Source
	// Path is the directory or OPA bundle archive (.tar.gz) inside Src;
	// "" means Src's root.
	Path string
}

// Options tune the stage.
type Options struct {
	// Dirs are extra policy directories (--policy), trusted because the
	// person running gate chose them.
	Dirs []Dir
	// Timeout bounds one evaluation; 0 reads limits.policyTimeout, else 2s.
	Timeout time.Duration
	// Parallelism bounds concurrent evaluations; 0 means GOMAXPROCS.
	Parallelism int
	// Now is the clock waivers expire against; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// DefaultKubernetesVersion is data.gate.env.kubernetesVersion for
	// environments that name none (the schema stage's default), so a
	// policy sees the version the environment is validated against.
	DefaultKubernetesVersion string
}

// Stage is the policy stage. It is safe for concurrent use.
type Stage struct {
	opts    Options
	cfg     *config.Config
	trusted source.Source
	// Files are the policy files loaded, with content hashes, for Impact.
	files map[string]string

	units    []*unit
	gk       *gatekeeper
	data     map[string]any
	ruleMeta map[string]ruleMeta

	// loadFinds are the problems Load met, for the policy impact.
	loadFinds []checks.Finding
	// id digests the trusted inputs of every evaluation, for verdict
	// keys (reuse.go).
	id []byte

	mu      sync.Mutex
	queries map[string]*rego.Query
	repoGK  map[string]*gkDocs
	// repoPath caches repoDocs by path (nil: not Gatekeeper YAML).
	repoPath map[string]*gkDocs
}

// ruleMeta is what a rule id resolves to, for config validation and help.
type ruleMeta struct {
	severity checks.Severity
	help     string
	title    string
}

var _ engine.Stage = (*Stage)(nil)

// Load reads and compiles every policy the trusted source and options name.
// Problems (a file that does not parse, a refused builtin, a constraint
// without its template) are findings; the stage still runs what loaded.
func Load(ctx context.Context, trusted source.Source, cfg *config.Config, opts Options) (*Stage, []checks.Finding) {
	if cfg == nil {
		cfg = &config.Config{}
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = runtime.GOMAXPROCS(0)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var finds []checks.Finding
	if opts.Timeout <= 0 {
		opts.Timeout = rego.DefaultTimeout
		if s := cfg.Limits.PolicyTimeout; s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				finds = append(finds, configFinding(cfg, "limits", fmt.Sprintf("limits.policyTimeout %q: want a duration like 2s", s)))
			} else {
				opts.Timeout = d
			}
		}
	}
	s := &Stage{opts: opts, cfg: cfg, trusted: trusted, files: map[string]string{}, queries: map[string]*rego.Query{}, repoGK: map[string]*gkDocs{}, ruleMeta: map[string]ruleMeta{}}
	set, fs := collect(trusted, cfg, opts.Dirs)
	finds = append(finds, fs...)
	for _, f := range set.all() {
		s.files[f.path] = source.BlobHash(f.data)
	}
	s.data = set.data
	s.id = identity(set, cfg, opts)
	units, fs := buildUnits(set, cfg)
	finds = append(finds, fs...)
	s.units = units
	s.gk, fs = newGatekeeper(set.gatekeeper, trusted)
	finds = append(finds, fs...)
	for _, u := range s.units {
		for _, p := range u.pkgs {
			for _, r := range p.rules {
				s.ruleMeta[p.ruleID(r)] = ruleMeta{severity: p.defaultSeverity(r), help: p.help, title: p.title}
			}
		}
	}
	for _, c := range s.gk.constraints {
		s.ruleMeta[c.id()] = ruleMeta{severity: c.severity()}
	}
	finds = append(finds, s.checkRuleConfig()...)
	checks.SortFindings(finds)
	s.loadFinds = finds
	return s, finds
}

// Name implements engine.Stage.
func (s *Stage) Name() string { return Name }

// Rules lists the rule ids the stage knows with their default severity and
// help, sorted by id (for `gate policy list`).
func (s *Stage) Rules() []RuleInfo {
	out := make([]RuleInfo, 0, len(s.ruleMeta))
	for id, m := range s.ruleMeta {
		out = append(out, RuleInfo{ID: id, Severity: m.severity, Title: m.title, Help: m.help})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// RuleInfo describes one rule.
type RuleInfo struct {
	ID       string          `json:"id"`
	Severity checks.Severity `json:"severity"`
	Title    string          `json:"title,omitempty"`
	Help     string          `json:"help,omitempty"`
}

// checkRuleConfig reports gate.yaml rule overrides that name no known rule
// or no valid severity: a typo there silently leaves a rule at its default.
func (s *Stage) checkRuleConfig() []checks.Finding {
	check := func(rules map[string]string, where string, line int) []checks.Finding {
		var out []checks.Finding
		ids := make([]string, 0, len(rules))
		for id := range rules {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			f := configFinding(s.cfg, "policies", "")
			f.Origin.Line = line
			if _, err := checks.ParseSeverity(rules[id]); err != nil {
				f.Message = fmt.Sprintf("%s: rule %q: %v", where, id, err)
				out = append(out, f)
				continue
			}
			if _, ok := s.ruleMeta[id]; !ok && !strings.HasPrefix(id, "policy/") && !maybeRenderedConstraint(id) {
				f.RuleID, f.Severity = RuleUnknownRule, checks.SeverityWarning
				f.Message = fmt.Sprintf("%s names rule %q, which no loaded policy defines (see `gate policy list`)", where, id)
				out = append(out, f)
			}
		}
		return out
	}
	out := check(s.cfg.Policies.Rules, "policies.rules", s.cfg.Lines["policies"])
	for i, e := range s.cfg.Environments {
		out = append(out, check(e.Rules, fmt.Sprintf("environment %q rules", e.Name), s.cfg.Lines[fmt.Sprintf("environments[%d]", i)])...)
	}
	for i, x := range s.cfg.Exceptions {
		if _, ok := s.ruleMeta[x.Rule]; !ok && x.Rule != "" && !maybeRenderedConstraint(x.Rule) {
			f := configFinding(s.cfg, "exceptions", fmt.Sprintf("exception for rule %q names no rule a loaded policy defines, so it waives nothing (exceptions waive policy rules; see `gate policy list`)", x.Rule))
			f.RuleID, f.Severity = RuleWaiverInvalid, checks.SeverityWarning
			f.Origin.Line = s.cfg.Lines[fmt.Sprintf("exceptions[%d]", i)]
			out = append(out, f)
		}
		if x.Name == "" {
			f := configFinding(s.cfg, "exceptions", fmt.Sprintf("exception for rule %q names no resource (name, and kind/namespace to be precise): an exception waives one rule for one resource, so it waives nothing", x.Rule))
			f.RuleID, f.Severity = RuleWaiverInvalid, checks.SeverityWarning
			f.Origin.Line = s.cfg.Lines[fmt.Sprintf("exceptions[%d]", i)]
			out = append(out, f)
		}
	}
	return out
}

// maybeRenderedConstraint reports whether a rule id has the shape of a
// Gatekeeper constraint (Kind/name). Constraints an environment renders are
// only known once it is rendered, so such ids are not called unknown at load.
func maybeRenderedConstraint(id string) bool {
	kind, name, ok := strings.Cut(id, "/")
	return ok && name != "" && kind != "" && kind[0] >= 'A' && kind[0] <= 'Z'
}

func configFinding(cfg *config.Config, key, msg string) checks.Finding {
	file := cfg.File
	if file == "" {
		file = config.FileName
	}
	return checks.Finding{Check: Name, RuleID: RuleLoad, Severity: checks.SeverityError, Message: msg, Origin: checks.Origin{File: file, Line: cfg.Lines[key]}}
}

// severityFor applies gate.yaml: the environment's rules, then policies.rules,
// then the rule's own default. SeverityNone means the rule is off.
func (s *Stage) severityFor(env, id string, def checks.Severity) checks.Severity {
	for _, e := range s.cfg.Environments {
		if e.Name == env {
			if v, ok := e.Rules[id]; ok {
				if sev, err := checks.ParseSeverity(v); err == nil {
					return sev
				}
			}
		}
	}
	if v, ok := s.cfg.Policies.Rules[id]; ok {
		if sev, err := checks.ParseSeverity(v); err == nil {
			return sev
		}
	}
	return def
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// envData is the data document for one environment: the policies' data
// and data.gate.
func (s *Stage) envData(env checks.Env) map[string]any {
	data := map[string]any{}
	for k, v := range s.data {
		data[k] = v
	}
	data["gate"] = s.gateData(env)
	return data
}

// gateData is data.gate for one environment.
func (s *Stage) gateData(env checks.Env) map[string]any {
	labels := map[string]any{}
	for k, v := range env.Labels {
		labels[k] = v
	}
	req := make([]any, 0, len(s.cfg.Policies.RequiredLabels))
	for _, l := range s.cfg.Policies.RequiredLabels {
		req = append(req, l)
	}
	gate := map[string]any{
		"env": map[string]any{
			"name":              env.Name,
			"labels":            labels,
			"kubernetesVersion": cmpOr(env.KubernetesVersion, s.opts.DefaultKubernetesVersion),
			"cluster":           env.Cluster,
		},
		"config": map[string]any{"requiredLabels": req},
	}
	return gate
}

// query returns the prepared query of a unit for an environment, preparing
// it once.
func (s *Stage) query(ctx context.Context, key string, c *rego.Compiled, q string, data func() map[string]any) (*rego.Query, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pq, ok := s.queries[key]; ok {
		return pq, nil
	}
	pq, err := c.Prepare(ctx, q, data(), s.opts.Timeout)
	if err != nil {
		return nil, err
	}
	s.queries[key] = pq
	return pq, nil
}

// ConcurrencySafe implements engine.ConcurrencySafe: prepared queries are
// shared under a lock and each evaluation has its own state.
func (s *Stage) ConcurrencySafe() bool { return true }

// Check implements engine.Stage: every policy over every resource of one
// environment.
func (s *Stage) Check(ctx context.Context, in *engine.Input) ([]checks.Finding, error) {
	if in == nil || in.Head == nil {
		return nil, nil
	}
	return s.evaluate(ctx, in.Env, in.Head, in.Base, in.PullRequest, in.Verdicts), nil
}

// evaluate runs every unit and constraint over res and applies waivers.
// vs, when set, holds the run's verdicts to reuse and add to.
func (s *Stage) evaluate(ctx context.Context, env checks.Env, res *render.Result, base *render.Result, pr bool, vs *engine.Verdicts) []checks.Finding {
	ev := newEvaluation(ctx, s, env, res, vs)
	ev.run()
	finds := ev.findings()
	finds = s.applyWaivers(env, res, base, pr, finds)
	checks.SortFindings(finds)
	return finds
}

// toValue converts a rendered object to OPA's value once per resource.
func toValue(obj map[string]any) (ast.Value, error) {
	return ast.InterfaceToValue(obj)
}

// RenderOnly implements engine.RenderOnly: policies judge the rendering
// they are given (and the trusted config), so the engine can run them over
// the base too and tell new findings from existing ones.
func (s *Stage) RenderOnly() bool { return true }
