// Package rego is gate's OPA engine: it parses and compiles policy files
// once, with capabilities that leave out every builtin that could reach the
// network, read the gate process's environment or give a different answer on
// a second run, and evaluates prepared queries with a deadline on each
// evaluation. Load and compile problems come back as Problems with the file
// and line, so the policy stage can report them as findings.
//
// Policies are read from a checks/source.Source (the work tree or a commit
// tree read from git), not from OS paths, which is why this package parses
// modules itself instead of calling rego.Load: the base revision of a pull
// request has no checkout to load from.
package rego

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// DefaultTimeout bounds one evaluation (one query over one input).
const DefaultTimeout = 2 * time.Second

// refused lists the builtins gate's capabilities leave out, with the reason
// shown when a policy calls one. Pure helpers that share a prefix with a
// refused one (net.cidr_contains and friends) stay available: they compute
// on their arguments and never touch the network.
//
// On top of these names, every builtin OPA itself marks non-deterministic
// (ast.Builtin.Nondeterministic) is refused, so a builtin a newer OPA adds
// to that class is refused without a change here.
var refused = map[string]string{
	"http.send":              "it reaches the network",
	"net.lookup_ip_addr":     "it reaches the network (DNS)",
	"opa.runtime":            "it reads the environment of the gate process",
	"rand.intn":              "it is not deterministic",
	"uuid.rfc4122":           "it is not deterministic",
	"time.now_ns":            "it is not deterministic: a verdict must not depend on when gate runs",
	"providers.aws.sign_req": "it signs network requests with the current time",
	"io.jwt.encode_sign_raw": "it is not deterministic (random signatures) and not needed to judge manifests",
	"io.jwt.encode_sign":     "it is not deterministic (random signatures) and not needed to judge manifests",
	"io.jwt.decode_verify":   "it checks expiry against the current time: a verdict must not depend on when gate runs",
	"json.verify_schema":     "it can fetch remote $ref schemas over the network",
	"json.match_schema":      "it can fetch remote $ref schemas over the network",
	"crypto.x509.parse_and_verify_certificates":              "it verifies against the current time: a verdict must not depend on when gate runs",
	"crypto.x509.parse_and_verify_certificates_with_options": "it verifies against the current time: a verdict must not depend on when gate runs",
}

// nondeterministicReason explains a builtin OPA marks non-deterministic
// that the table above does not name.
const nondeterministicReason = "OPA marks it non-deterministic: it may use the network, the clock or randomness"

// refusedReason says why a builtin is refused, or "" when it is allowed.
func refusedReason(name string) string {
	if why, ok := refused[name]; ok {
		return why
	}
	if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic {
		return nondeterministicReason
	}
	return ""
}

// Refused returns the builtins policies may not call, sorted, with reasons.
func Refused() map[string]string {
	out := make(map[string]string, len(refused))
	for k, v := range refused {
		out[k] = v
	}
	for name, b := range ast.BuiltinMap {
		if _, ok := out[name]; !ok && b.Nondeterministic {
			out[name] = nondeterministicReason
		}
	}
	return out
}

// Capabilities returns the OPA capabilities gate compiles with: this OPA
// version's, minus the refused builtins. A policy that calls one fails to
// compile with "undefined function", which Compile rewrites into a reason.
func Capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if b.Nondeterministic || refusedReason(b.Name) != "" {
			continue
		}
		kept = append(kept, b)
	}
	caps.Builtins = kept
	// No remote JSON schema fetches from the type checker either.
	caps.AllowNet = []string{}
	return caps
}

// File is one policy source file.
type File struct {
	// Path is the repo-relative file shown in findings.
	Path string
	// ID names the module inside the compiler; it defaults to Path and must
	// be unique (several templates can live in one YAML file).
	ID  string
	Src []byte
	// LineOffset is added to Rego line numbers, for Rego embedded in YAML.
	LineOffset int
	// Version forces a Rego version; RegoUndefined detects it (v1, else v0).
	Version ast.RegoVersion
}

func (f File) id() string {
	if f.ID != "" {
		return f.ID
	}
	return f.Path
}

// Problem is a load, compile or evaluation problem, located in a policy file.
type Problem struct {
	File string
	Line int
	// Code is OPA's error code (rego_parse_error, eval_conflict_error, ...).
	Code string
	Msg  string
}

func (p Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if loc == "" {
		return p.Msg
	}
	return loc + ": " + p.Msg
}

// Compiled is a set of modules compiled together. It is read-only after
// Compile and safe for concurrent use.
type Compiled struct {
	Compiler *ast.Compiler
	Modules  map[string]*ast.Module
	files    map[string]File
	caps     *ast.Capabilities
	strict   bool
}

// CompileOptions tune Compile.
type CompileOptions struct {
	// NoStrict turns OPA's strict mode off. Strict mode (unused variables,
	// deprecated builtins, shadowed input/data are errors) is on by default
	// and always off for Rego v0 modules, which Gatekeeper and older conftest
	// policies are written in.
	NoStrict bool
}

// Parse parses one file, detecting the Rego version unless it is forced.
func Parse(f File) (*ast.Module, *Problem) {
	caps := Capabilities()
	popts := ast.ParserOptions{ProcessAnnotation: true, Capabilities: caps}
	if f.Version != ast.RegoUndefined {
		popts.RegoVersion = f.Version
		m, err := ast.ParseModuleWithOpts(f.id(), string(f.Src), popts)
		if err != nil {
			ps := problems(err, map[string]File{f.id(): f})
			return nil, &ps[0]
		}
		return checked(m, f)
	}
	popts.RegoVersion = ast.RegoV1
	m, err := ast.ParseModuleWithOpts(f.id(), string(f.Src), popts)
	if err == nil {
		return checked(m, f)
	}
	v0 := popts
	v0.RegoVersion = ast.RegoV0
	m0, err0 := ast.ParseModuleWithOpts(f.id(), string(f.Src), v0)
	if err0 == nil {
		return checked(m0, f)
	}
	// Both dialects fail. The parser that got further is reading the
	// dialect the file is written in: report its error, not the other's
	// complaint about the first v0-only (or v1-only) construct.
	ps := problems(err, map[string]File{f.id(): f})
	ps0 := problems(err0, map[string]File{f.id(): f})
	if ps0[0].Line > ps[0].Line {
		return nil, &ps0[0]
	}
	return nil, &ps[0]
}

// Compile parses and compiles files together. Every problem is returned;
// a non-empty list means the Compiled is nil.
func Compile(files []File, opts CompileOptions) (*Compiled, []Problem) {
	byID := make(map[string]File, len(files))
	mods := make(map[string]*ast.Module, len(files))
	var probs []Problem
	v0 := false
	for _, f := range files {
		if _, dup := byID[f.id()]; dup {
			probs = append(probs, Problem{File: f.Path, Msg: "policy file loaded twice"})
			continue
		}
		byID[f.id()] = f
		m, p := Parse(f)
		if p != nil {
			probs = append(probs, *p)
			continue
		}
		if m.RegoVersion() == ast.RegoV0 {
			v0 = true
		}
		mods[f.id()] = m
	}
	if len(probs) > 0 {
		return nil, probs
	}
	strict := !opts.NoStrict && !v0
	caps := Capabilities()
	c := newCompiler(caps, strict)
	c.Compile(mods)
	if c.Failed() {
		return nil, problems(c.Errors, byID)
	}
	return &Compiled{Compiler: c, Modules: mods, files: byID, caps: caps, strict: strict}, nil
}

func newCompiler(caps *ast.Capabilities, strict bool) *ast.Compiler {
	return ast.NewCompiler().
		WithCapabilities(caps).
		WithStrict(strict).
		WithEnablePrintStatements(false).
		WithUseTypeCheckAnnotations(true)
}

// File returns the source file a module id came from.
func (c *Compiled) File(id string) (File, bool) {
	f, ok := c.files[id]
	return f, ok
}

var undefinedFnRe = regexp.MustCompile(`undefined function ([a-zA-Z0-9_.]+)`)

// problems turns OPA errors into located problems, mapping module ids back
// to files and explaining refused builtins.
func problems(err error, files map[string]File) []Problem {
	var out []Problem
	add := func(code, msg string, loc *ast.Location) {
		p := Problem{Code: code, Msg: msg}
		if loc != nil {
			p.File, p.Line = loc.File, loc.Row
		}
		if f, ok := files[p.File]; ok {
			p.File = f.Path
			if p.Line > 0 {
				p.Line += f.LineOffset
			}
		}
		if m := undefinedFnRe.FindStringSubmatch(msg); m != nil {
			if why := refusedReason(m[1]); why != "" {
				p.Msg = fmt.Sprintf("%s is not allowed in gate policies: %s (gate evaluates policies offline and deterministically)", m[1], why)
			}
		}
		out = append(out, p)
	}
	var astErrs ast.Errors
	var astErr *ast.Error
	var tdErr *topdown.Error
	switch {
	case errors.As(err, &astErrs):
		for _, e := range astErrs {
			add(e.Code, e.Message, e.Location)
		}
	case errors.As(err, &astErr):
		add(astErr.Code, astErr.Message, astErr.Location)
	case errors.As(err, &tdErr):
		add(tdErr.Code, tdErr.Message, tdErr.Location)
	default:
		add("", err.Error(), nil)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out
}

// Query is a prepared query over a Compiled set and one data document. It is
// safe for concurrent use.
type Query struct {
	pq      opa.PreparedEvalQuery
	c       *Compiled
	timeout time.Duration
}

// Prepare compiles a query once against c and a data document (data.* that
// is not a rule). timeout bounds each evaluation; 0 means DefaultTimeout.
func (c *Compiled) Prepare(ctx context.Context, query string, data map[string]any, timeout time.Duration) (*Query, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if data == nil {
		data = map[string]any{}
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false))
	r := opa.New(
		opa.Query(query),
		opa.Compiler(c.Compiler),
		opa.Store(store),
		opa.Capabilities(c.caps),
		opa.Strict(c.strict),
		opa.StrictBuiltinErrors(true),
		opa.EnablePrintStatements(false),
	)
	pq, err := r.PrepareForEval(ctx)
	if err != nil {
		ps := problems(err, c.files)
		return nil, ps[0]
	}
	return &Query{pq: pq, c: c, timeout: timeout}, nil
}

// WithTimeout returns the query with another per-evaluation deadline (the
// prepared query is shared, not recompiled).
func (q *Query) WithTimeout(d time.Duration) *Query {
	if d <= 0 || d == q.timeout {
		return q
	}
	c := *q
	c.timeout = d
	return &c
}

// Timeout is the query's per-evaluation deadline.
func (q *Query) Timeout() time.Duration { return q.timeout }

// EvalError is a policy that failed at run time: a conflict, a builtin
// error or a deadline. File and Line locate the expression in the policy.
type EvalError struct {
	Problem
	// Timeout is set when the evaluation ran past its deadline.
	Timeout bool
}

func (e *EvalError) Error() string { return e.Problem.Error() }

// Eval evaluates the query over one input with the query's deadline. The
// input is an ast.Value converted once by the caller (ast.InterfaceToValue)
// so a resource is converted once for all queries.
func (q *Query) Eval(ctx context.Context, input ast.Value) (opa.ResultSet, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	var opts []opa.EvalOption
	if input != nil {
		opts = append(opts, opa.EvalParsedInput(input))
	}
	rs, err := q.pq.Eval(ctx, opts...)
	if err == nil {
		return rs, nil
	}
	if parent.Err() != nil {
		// The run was stopped (its deadline, its memory budget), not this
		// evaluation's own deadline: say so rather than blame the policy.
		return nil, &EvalError{Problem: Problem{Code: topdown.CancelErr,
			Msg: fmt.Sprintf("evaluation stopped before it finished: %v", context.Cause(parent))}}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || topdown.IsCancel(err) {
		return nil, &EvalError{Timeout: true, Problem: Problem{Code: topdown.CancelErr,
			Msg: fmt.Sprintf("evaluation did not finish within %s (the policy loops over too much data; raise it with --policy-timeout or gate.yaml limits.policyTimeout if it is legitimately slow)", q.timeout)}}
	}
	ps := problems(err, q.c.files)
	return nil, &EvalError{Problem: ps[0]}
}

// Store builds an in-memory store over data, for the test runner.
func Store(data map[string]any) storage.Store {
	if data == nil {
		data = map[string]any{}
	}
	return inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false))
}

// Rules lists the names of the rules a package defines, sorted.
func (c *Compiled) Rules(pkg ast.Ref) []string {
	seen := map[string]bool{}
	for _, m := range c.Modules {
		if !m.Package.Path.Equal(pkg) {
			continue
		}
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			if len(ref) == 0 {
				continue
			}
			name, ok := ref[0].Value.(ast.Var)
			if !ok {
				continue
			}
			seen[string(name)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Packages lists the packages of the compiled modules, sorted, as paths
// without the data. prefix ("main", "gate.builtin.image_tag_pinned").
func (c *Compiled) Packages() []string {
	seen := map[string]bool{}
	for _, m := range c.Modules {
		seen[PackageName(m.Package.Path)] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PackageName renders data.a.b as "a.b".
func PackageName(path ast.Ref) string {
	var b bytes.Buffer
	for i, t := range path {
		if i == 0 {
			continue // data
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			b.WriteString(t.String())
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(string(s))
	}
	return b.String()
}

// PackageRef is the query reference of a package and rule:
// data["a"]["b"].rule, quoting names that are not plain identifiers.
func PackageRef(pkg, rule string) string {
	var b strings.Builder
	b.WriteString("data")
	for _, part := range strings.Split(pkg, ".") {
		b.WriteString(`["`)
		b.WriteString(part)
		b.WriteString(`"]`)
	}
	if rule != "" {
		b.WriteString(`["`)
		b.WriteString(rule)
		b.WriteString(`"]`)
	}
	return b.String()
}
