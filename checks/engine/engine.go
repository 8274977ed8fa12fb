// Package engine runs gate: it renders the selected environments of a head
// (and optionally a base) revision, runs every check stage over each, diffs
// base and head, and assembles one Report with one verdict. Every front door
// (CLI, pre-commit, Action, GitHub App) calls Run, so they agree on findings.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/diff"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

// Stage checks one rendered environment. Stages are independent: adding a
// check is a new package implementing Stage and one block in the front
// doors' stage list (internal/run's BuildStages).
type Stage interface {
	// Name is the check name on findings ("schema", "policy").
	Name() string
	// Check returns findings for one environment. An error means the stage
	// could not run; the engine reports it as a finding, never drops it.
	Check(ctx context.Context, in *Input) ([]checks.Finding, error)
}

// ConcurrencySafe is implemented by stages whose Check and Annotate may run
// for several environments at once. When every stage of a run says so, the
// engine checks environments in parallel; one stage that does not (or does
// not say) keeps the run sequential.
type ConcurrencySafe interface {
	ConcurrencySafe() bool
}

func concurrent(stages []Stage) bool {
	for _, st := range stages {
		c, ok := st.(ConcurrencySafe)
		if !ok || !c.ConcurrencySafe() {
			return false
		}
	}
	return true
}

// RenderOnly is implemented by stages whose findings depend on nothing but
// the rendering they are given and the trusted config (schema, policy).
// With a base, the engine runs them over the base rendering too, so each
// finding is marked new or existing and the base's findings the change
// removes are listed as fixed. Stages that reach outside (the live diff)
// do not say so, and their findings are judged as they are.
type RenderOnly interface {
	RenderOnly() bool
}

func renderOnly(st Stage) bool {
	r, ok := st.(RenderOnly)
	return ok && r.RenderOnly()
}

// Annotator is implemented by stages that add more than findings to an
// environment's report (the live diff fills EnvReport.Live and Drift). The
// engine calls it after Check, with the report built so far.
type Annotator interface {
	Annotate(ctx context.Context, in *Input, er *checks.EnvReport)
}

// Reporter is implemented by stages that add a run-wide section once every
// environment is checked (the policy stage's policy impact). It sees the
// request and every head rendering; it never changes the verdict.
type Reporter interface {
	Report(ctx context.Context, req *Request, heads []*render.Result, rep *checks.Report)
}

// Input is what a stage sees of one environment.
type Input struct {
	Env  checks.Env
	Head *render.Result
	// Base is the base revision's rendering, nil without a base.
	Base *render.Result
	// PullRequest is set when the run has a base revision: the head is
	// then untrusted data (its waivers count only when the base holds
	// them), even for an environment the base does not have (Base nil).
	PullRequest bool
	// All holds every head rendering of the run, for cross-environment rules.
	All []*render.Result
	// Diff is the base/head diff of the environment, nil without a base.
	Diff *checks.EnvDiff
	// DiffOptions are the trusted diff settings, for stages that diff too.
	DiffOptions diff.Options
	// Verdicts, when set, holds the run's per-resource verdicts, shared
	// by the base and head checks of every environment (nil: no reuse).
	Verdicts *Verdicts
}

// Request is one run.
type Request struct {
	Head source.Source
	// Base, when set, is the base revision; gate.yaml and policies come from it.
	Base source.Source
	// Config is the trusted gate.yaml (from Base when given).
	Config *config.Config
	// Envs selects environments by name; empty means all.
	Envs []string
	// FailOn is the lowest severity that fails the gate; none means error.
	FailOn checks.Severity
	// FailOnScope is which findings fail the gate: checks.ScopeNew (the
	// default: those the base does not have) or checks.ScopeAll.
	FailOnScope string
	// Baseline, when set and there is no Base, holds the findings of a
	// baseline file (gate baseline): the run's findings are compared with
	// them as with a base's. BaselineName names it in the report.
	Baseline     []checks.Finding
	BaselineName string
	Stages       []Stage
	Render       render.Options
	Logger       *slog.Logger
	// Progress, when set, reports phases for long runs ("rendered prod (2/3)").
	Progress func(msg string)
	// ChangedFiles, when not nil, are the repo-relative files the change
	// touches (a pull request's file list). When nil and Base is set, the
	// engine compares the files each environment read on both sides.
	ChangedFiles []string
	// NoDiff skips the base/head diff (the base still renders for stages).
	NoDiff bool
	// Findings are reported as they are, before the run's own: problems
	// the caller met preparing the run (a policy that does not compile).
	Findings []checks.Finding
	// Incremental renders and checks only the environments the change
	// touches: those that read one of ChangedFiles (or, without them, one of
	// the files that differ between Base and Head), and every environment
	// when gate.yaml or the policies change. The others are reported as
	// untouched, unrendered.
	Incremental bool
}

// NotRenderedReason is EnvReport.NotRendered for an environment an
// incremental run left out.
const NotRenderedReason = "no file of the change reaches it"

// Plan discovers the environments a request covers.
func Plan(req *Request) ([]checks.Env, []checks.Finding, error) {
	envs, finds := render.Discover(req.Head, req.Config)
	sel, err := render.SelectEnvs(envs, req.Envs)
	if err != nil {
		return nil, finds, err
	}
	return sel, finds, nil
}

// RenderEnvs renders the selected environments of head.
func RenderEnvs(ctx context.Context, req *Request) ([]*render.Result, []checks.Finding, error) {
	envs, finds, err := Plan(req)
	if err != nil {
		return nil, finds, err
	}
	r := render.New(req.Render)
	return r.RenderAll(ctx, req.Head, envs), finds, nil
}

func (req *Request) progress(format string, args ...any) {
	if req.Progress != nil {
		req.Progress(fmt.Sprintf(format, args...))
	}
}

// Run renders and checks every selected environment. With a Base it also
// renders the base revision (the same environments, from the base tree),
// diffs each environment and computes the blast radius. Secret values found
// in either rendering are scrubbed from every finding and diff.
func Run(ctx context.Context, req *Request) (*checks.Report, error) {
	start := time.Now()
	if req.Render.Closures == nil {
		// The change selection and the renders close each source once.
		cp := *req
		cp.Render.Closures = render.NewClosureMemo()
		req = &cp
	}
	log := req.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	envs, finds, err := Plan(req)
	if err != nil {
		return nil, err
	}
	order := map[string]int{}
	for i, e := range envs {
		order[e.Name] = i
	}
	envs, untouched, because, err := touched(ctx, req, envs)
	if err != nil {
		return nil, err
	}
	// Head and base render at once: a change touching one environment is
	// two single-environment renders, which would otherwise leave a core
	// idle each.
	sides := *req
	if p := req.Progress; p != nil {
		var mu sync.Mutex
		sides.Progress = func(msg string) { mu.Lock(); defer mu.Unlock(); p(msg) }
	}
	var bases []*render.Result
	var wg sync.WaitGroup
	if req.Base != nil {
		wg.Go(func() { bases = renderSide(ctx, &sides, req.Base, envs, "base") })
	}
	heads := renderSide(ctx, &sides, req.Head, envs, "head")
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	rep := newReport(req, finds)
	c := newChecker(req, heads, bases, because, log)
	checked, err := c.checkAll(ctx, &sides)
	if err != nil {
		return nil, err
	}
	rep.Envs = append(rep.Envs, checked...)
	for _, e := range untouched {
		rep.Envs = append(rep.Envs, checks.EnvReport{Env: e, Status: checks.EnvUntouched, Findings: []checks.Finding{},
			NotRendered: NotRenderedReason})
	}
	sort.SliceStable(rep.Envs, func(i, j int) bool { return order[rep.Envs[i].Env.Name] < order[rep.Envs[j].Env.Name] })
	for _, st := range req.Stages {
		if r, ok := st.(Reporter); ok && ctx.Err() == nil {
			r.Report(ctx, req, heads, rep)
		}
	}
	if pi := rep.PolicyImpact; pi != nil {
		c.scrubFor(pi.NewlyFlagged)
		c.scrubFor(pi.Cleared)
	}
	c.scrub.ScrubFindings(rep.Findings)
	rep.Duration = time.Since(start)
	rep.Finalize()
	return rep, nil
}

// touched splits envs, for an incremental run, into those the change
// touches (with the files that make each touched: because) and the
// untouched rest. Other runs keep every environment (because is nil).
func touched(ctx context.Context, req *Request, envs []checks.Env) (keep, untouched []checks.Env, because map[string][]string, err error) {
	if !req.Incremental {
		return envs, nil, nil, nil
	}
	if req.ChangedFiles == nil && req.Base != nil {
		changed, err := ChangedFiles(req.Base, req.Head)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("list the files the change touches: %w", err)
		}
		req.ChangedFiles = changed
	}
	if req.ChangedFiles == nil {
		return envs, nil, nil, nil
	}
	because = affectedEnvs(ctx, req, envs, req.ChangedFiles)
	for _, e := range envs {
		if _, ok := because[e.Name]; ok {
			keep = append(keep, e)
		} else {
			untouched = append(untouched, e)
		}
	}
	req.progress("%d of %d environments touched by %d changed files", len(keep), len(keep)+len(untouched), len(req.ChangedFiles))
	return keep, untouched, because, nil
}

// newReport is the report of req before any environment is checked: the
// revisions, failOn and its scope, the stages that run, the run's own
// findings (finds: planning's).
func newReport(req *Request, finds []checks.Finding) *checks.Report {
	failOn := req.FailOn
	if failOn == checks.SeverityNone {
		failOn = checks.SeverityError
	}
	scope := req.FailOnScope
	if scope == "" {
		scope = checks.ScopeNew
	}
	rep := &checks.Report{HeadRev: req.Head.Rev(), FailOn: failOn, Findings: append(append([]checks.Finding{}, req.Findings...), finds...)}
	for _, st := range req.Stages {
		rep.Checked = append(rep.Checked, st.Name())
	}
	if req.Base != nil {
		rep.BaseRev = req.Base.Rev()
		rep.Baseline = &checks.BaselineSummary{Against: "base"}
	} else if req.Baseline != nil {
		rep.Baseline = &checks.BaselineSummary{Against: cmpOr(req.BaselineName, "baseline")}
	}
	if rep.Baseline != nil {
		// The scope only means something when findings were compared.
		rep.FailOnScope = scope
	}
	return rep
}

// checkBase computes the findings of environment i at the base: its render
// findings and those of every render-only stage over the base rendering,
// with the same (trusted) stages the head is judged by.
func checkBase(ctx context.Context, req *Request, bases []*render.Result, i int, dopts diff.Options, comparable map[string]bool, verdicts *Verdicts) []checks.Finding {
	base := bases[i]
	out := append([]checks.Finding{}, base.Findings...)
	in := &Input{Env: base.Env, Head: base, All: bases, DiffOptions: dopts, Verdicts: verdicts}
	for _, st := range req.Stages {
		if !renderOnly(st) {
			continue
		}
		got, err := runStage(ctx, st, in)
		if err != nil {
			// The stage cannot judge the base: nothing to compare with,
			// so every head finding of the stage stays new.
			continue
		}
		out = append(out, got...)
	}
	return comparableOf(out, comparable)
}

// comparableOf keeps the findings of the checks compared with a baseline.
func comparableOf(fs []checks.Finding, comparable map[string]bool) []checks.Finding {
	out := make([]checks.Finding, 0, len(fs))
	for _, f := range fs {
		if comparable[f.Check] {
			f.Baseline = ""
			out = append(out, f)
		}
	}
	return out
}

// compare marks the comparable findings of head new or existing against
// base and returns the base findings the head no longer has (fixed).
// Findings of other checks (the diff's notices, the live comparison) say
// something about this run only and keep no state.
func compare(head, base []checks.Finding, comparable map[string]bool) []checks.Finding {
	var idx []int
	var sub []checks.Finding
	for i, f := range head {
		if comparable[f.Check] {
			idx = append(idx, i)
			sub = append(sub, f)
		}
	}
	fixed := checks.CompareBaseline(sub, base)
	for j, i := range idx {
		head[i] = sub[j]
	}
	return fixed
}

// baselineOf selects one environment's findings of a baseline file.
func baselineOf(fs []checks.Finding, env string) []checks.Finding {
	var out []checks.Finding
	for _, f := range fs {
		if f.Env == env {
			out = append(out, f)
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// runStage runs one stage, turning a panic into an error so one broken
// check never takes the run (and its other findings) down.
func runStage(ctx context.Context, st Stage, in *Input) (got []checks.Finding, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("stage crashed: %v (please report this)", p)
		}
	}()
	return st.Check(ctx, in)
}

// renderSide renders envs from one source, reporting progress per env.
func renderSide(ctx context.Context, req *Request, src source.Source, envs []checks.Env, side string) []*render.Result {
	opts := req.Render
	if req.Progress != nil {
		prev := opts.Progress
		opts.Progress = func(done, total int, env string) {
			if prev != nil {
				prev(done, total, env)
			}
			req.progress("rendered %s %s (%d/%d)", side, env, done, total)
		}
	}
	if side == "base" {
		// An environment the change adds has no base: render it as empty
		// instead of reporting the base's missing files.
		out := make([]*render.Result, len(envs))
		var present []checks.Env
		var idx []int
		for i, e := range envs {
			if _, err := fs.Stat(src, e.Path); err != nil {
				out[i] = &render.Result{Env: e}
				continue
			}
			present = append(present, e)
			idx = append(idx, i)
		}
		rs := render.New(opts).RenderAll(ctx, src, present)
		for j, r := range rs {
			out[idx[j]] = r
		}
		return out
	}
	return render.New(opts).RenderAll(ctx, src, envs)
}

// envDiff diffs one environment. When either side failed to render, a diff
// would show objects as removed or added that are only missing from a broken
// rendering, so it is replaced by a notice that says why.
func envDiff(base, head *render.Result, opts diff.Options, because []string, finds []checks.Finding) (*checks.EnvDiff, []checks.Finding) {
	switch {
	case base.Failed():
		return nil, append(finds, checks.Finding{Check: "diff", RuleID: "diff/base-render-failed", Severity: checks.SeverityNotice,
			Env: head.Env.Name, Origin: checks.Origin{File: head.Env.Path},
			Message: "the base revision of this environment does not render, so there is no diff against it: " + firstError(base.Findings)})
	case head.Failed():
		return nil, append(finds, checks.Finding{Check: "diff", RuleID: "diff/head-render-failed", Severity: checks.SeverityNotice,
			Env: head.Env.Name, Origin: checks.Origin{File: head.Env.Path},
			Message: "this environment does not render, so there is no diff (see the render findings)"})
	}
	opts.Locate = head
	d := diff.Envs(base.Resources, head.Resources, opts)
	d.SourceFiles = because
	return d, finds
}

func firstError(fs []checks.Finding) string {
	for _, f := range fs {
		if f.Severity == checks.SeverityError {
			return f.String()
		}
	}
	return ""
}

func changedSet(files []string) map[string]bool {
	if files == nil {
		return nil
	}
	m := make(map[string]bool, len(files))
	for _, f := range files {
		m[f] = true
	}
	return m
}

// hasher is implemented by sources that know a file's content hash (git
// trees), which makes comparing two revisions free.
type hasher interface {
	Hash(name string) (string, bool)
}

// sourceFiles returns the files the environment read on either side that
// differ between base and head: the files of the change that can have
// changed this environment.
func sourceFiles(req *Request, changed map[string]bool, base, head *render.Result) []string {
	files := map[string]bool{}
	for _, f := range base.Files {
		files[f] = true
	}
	for _, f := range head.Files {
		files[f] = true
	}
	var out []string
	for f := range files {
		if changed != nil {
			if changed[f] {
				out = append(out, f)
			}
			continue
		}
		if fileChanged(req.Base, req.Head, f) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

func fileChanged(a, b source.Source, name string) bool {
	if ha, ok := a.(hasher); ok {
		if hb, ok := b.(hasher); ok {
			x, okA := ha.Hash(name)
			y, okB := hb.Hash(name)
			return okA != okB || x != y
		}
	}
	ba, errA := a.ReadFile(name)
	bb, errB := b.ReadFile(name)
	if errA != nil || errB != nil {
		// Present on one side only (or unreadable on one): changed.
		return !(errors.Is(errA, fs.ErrNotExist) && errors.Is(errB, fs.ErrNotExist)) && (errA == nil) != (errB == nil)
	}
	return !bytes.Equal(ba, bb)
}
