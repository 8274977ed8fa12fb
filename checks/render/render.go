// Package render turns an environment of an ops repo into rendered
// Kubernetes objects, each with the source file and line it came from.
//
// Kustomize runs in process (krusty) over a read-only view of a Source, so
// the work tree, a git commit and the staged index render the same way.
// Before kustomize sees a kustomization, gate scans it: remote bases,
// escaping paths, exec functions and plugins are refused with a finding on
// the line that asked for them. Helm charts that live in the repo render in
// process with Helm's engine; plain YAML directories are read as they are.
// Flux clusters and Argo CD Applications render as their controllers
// would, from this repository only.
//
// Every render reads through a recording Source (source.Record): its
// probes (Result.Probes) are what it depends on, which is how an
// incremental run proves an environment untouched and how the render
// cache finds a render again. RenderAll builds the kustomizations several
// environments include once (memo.go) unless Options.NoShare.
package render

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"time"

	"sigs.k8s.io/kustomize/kyaml/openapi"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/source"
)

// Env kinds.
const (
	KindKustomize = "kustomize"
	KindHelm      = "helm"
	KindPlain     = "plain"
)

const (
	originAnnotation         = "config.kubernetes.io/origin"
	transformationAnnotation = "alpha.config.kubernetes.io/transformations"
	virtualPrefix            = "__gate_helm_"
)

// Options tune the renderer.
type Options struct {
	Limits Limits
	// Parallelism bounds concurrent environment renders; 0 means GOMAXPROCS.
	Parallelism int
	// Timeout bounds one environment's render; 0 means 2 minutes.
	Timeout time.Duration
	Logger  *slog.Logger
	// Progress, when set, is called after each environment renders.
	Progress func(done, total int, env string)
	// Cache, when set, reuses renders whose inputs are unchanged.
	Cache *Cache
	// Charts, when set, serves charts that are not in the repo (Helm
	// repositories and OCI registries) from the chart cache; without it
	// every such chart is a render/chart-not-cached finding.
	Charts *charts.Cache
	// Isolate, when set, renders each environment of a reopenable source
	// in a worker process (see Isolator).
	Isolate Isolator
	// NoShare renders every environment of RenderAll on its own: no
	// kustomization several environments include is built once for all
	// (memo.go). The output is the same
	// (TestSharingAndConfinementRenderTheSameCorpus); the switch is there
	// to compare with and to rule the sharing out.
	NoShare bool
	// Closures, when set, shares the closures computed on a source between
	// the Renderers of one run (the change selection's and the renders').
	Closures *ClosureMemo
}

// Renderer renders environments. It is safe for concurrent use.
type Renderer struct {
	opts Options
	// openapiMu serialises kustomizations that set openapi:, which mutate
	// kyaml's process-wide schema state.
	openapiMu sync.Mutex
	// argo scans each source's Argo CD objects once (see argo.go).
	argo argoIndex
	// charts is the chart cache's state, for the render cache's keys.
	chartsOnce sync.Once
	charts     string
	// closureIdx indexes the sources closures are computed on (closure.go).
	closureIdx closureIndexes
	// unconfined renders without the closure's confinement: only tests
	// set it, to show the confinement changes no honest render.
	unconfined bool
}

// kyamlSchemaOnce parses kyaml's built-in OpenAPI schema before the first
// kustomize run: kyaml initialises it lazily and its readers
// (namespace-scope checks) take no lock, so the first kustomize runs of a
// process, started together, race on it. It is not done in New: a run whose
// renders all come from the cache never needs it (a tenth of a warm run).
var kyamlSchemaOnce sync.Once

// initKustomize must be called before any kustomize build.
func initKustomize() { kyamlSchemaOnce.Do(func() { _ = openapi.Schema() }) }

// New returns a Renderer.
func New(opts Options) *Renderer {
	if opts.Limits.MaxDocuments == 0 {
		opts.Limits = DefaultLimits()
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = runtime.GOMAXPROCS(0)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Renderer{opts: opts}
}

// newResult is an empty Result of env, reading locations from src.
func newResult(env checks.Env, src source.Source, lim Limits) *Result {
	return &Result{Env: env, loc: map[*checks.Resource]*locInfo{}, src: src, docs: newDocCache(lim)}
}

// Result is one rendered environment.
type Result struct {
	Env       checks.Env
	Resources []*checks.Resource
	// Findings are render problems: refused references, invalid YAML,
	// kustomize errors. A non-empty list means Resources may be incomplete.
	Findings []checks.Finding
	// Files are the repo-relative files the render read, sorted: what the
	// environment depends on.
	Files []string
	// Probes are every question the render asked its Source (files read,
	// paths stat'ed, directories listed, including paths that did not
	// exist), sorted: the environment's dependencies, by construction.
	Probes   []source.Probe
	Duration time.Duration
	// Cached is true when the result was loaded from the render cache.
	Cached bool

	loc  map[*checks.Resource]*locInfo
	src  source.Source
	docs *docCache
}

// Failed reports whether the render produced an error finding.
func (r *Result) Failed() bool {
	for _, f := range r.Findings {
		if f.Severity == checks.SeverityError {
			return true
		}
	}
	return false
}

// RenderAll renders envs in parallel, results in the order of envs.
func (r *Renderer) RenderAll(ctx context.Context, src source.Source, envs []checks.Env) []*Result {
	return r.renderAll(ctx, r.sharing(src, envs), src, envs)
}

// renderAll is RenderAll with the memo m (nil: each environment alone).
func (r *Renderer) renderAll(ctx context.Context, m *memo, src source.Source, envs []checks.Env) []*Result {
	out := make([]*Result, len(envs))
	sem := make(chan struct{}, r.opts.Parallelism)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, env := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = r.renderWith(ctx, m, src, env)
			if r.opts.Progress != nil {
				mu.Lock()
				done++
				r.opts.Progress(done, len(envs), env.Name)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// sharing returns the memo through which the environments of one
// RenderAll build the kustomizations several of them include once
// (memo.go): nil for a single environment or with Options.NoShare.
func (r *Renderer) sharing(src source.Source, envs []checks.Env) *memo {
	if len(envs) < 2 || r.opts.NoShare {
		return nil
	}
	return newMemo(r, src)
}

// Render renders one environment. It never panics on bad input: problems
// become findings on the Result. A single Render never shares subtrees.
func (r *Renderer) Render(ctx context.Context, src source.Source, env checks.Env) *Result {
	return r.renderWith(ctx, nil, src, env)
}

// renderWith is Render taking the kustomizations it includes from m, the
// memo of a RenderAll (nil: builds everything itself).
func (r *Renderer) renderWith(ctx context.Context, m *memo, src source.Source, env checks.Env) *Result {
	if r.opts.Cache == nil {
		return r.render(ctx, m, src, env)
	}
	return r.cachedRender(ctx, m, src, env)
}

func (r *Renderer) render(ctx context.Context, m *memo, src source.Source, env checks.Env) (res *Result) {
	start := time.Now()
	// Every probe of every renderer goes through this one recorder, and
	// reaches only the environment's closure (closure.go).
	var rec *source.Recorder
	if r.unconfined {
		rec = source.Record(src)
	} else {
		rec = source.Record(source.Confine(src, env.Name, r.closureFor(src, env)))
	}
	src = rec
	res = newResult(env, src, r.opts.Limits)
	defer func() {
		rec.Add(res.Probes) // an isolated worker's
		res.Probes = rec.Probes()
		if p := recover(); p != nil {
			res.Findings = append(res.Findings, r.finding(env, "render/internal", env.Path, 0, fmt.Sprintf("renderer crashed on this environment: %v (please report this)", p)))
		}
		res.Duration = time.Since(start)
		checks.SortFindings(res.Findings)
	}()
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	if r.opts.Isolate != nil {
		if ires, ok := r.renderIsolated(ctx, src, env); ok {
			res = ires
			return res
		}
	}
	var err error
	switch env.Kind {
	case KindKustomize, "":
		err = r.renderKustomize(ctx, m, src, env, res)
	case KindHelm:
		err = r.renderHelmEnv(ctx, src, env, res)
	case KindPlain:
		err = r.renderPlain(src, env, res)
	case KindFlux:
		err = r.renderFlux(ctx, m, src, env, res)
	case KindArgo:
		err = r.renderArgoEnv(ctx, m, src, env, res)
	default:
		err = fmt.Errorf("unknown environment kind %q", env.Kind)
	}
	if err != nil {
		res.Findings = append(res.Findings, r.errFinding(env, err))
	}
	sortResources(res.Resources)
	return res
}

func sortResources(rs []*checks.Resource) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i].ID, rs[j].ID
		if oa, ob := kindOrder(a.Kind), kindOrder(b.Kind); oa != ob {
			return oa < ob
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Group < b.Group
	})
}

// kindOrder puts what other objects need first, like kubectl apply does.
func kindOrder(kind string) int {
	switch kind {
	case "Namespace":
		return 0
	case "CustomResourceDefinition":
		return 1
	case "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding":
		return 2
	case "Secret", "ConfigMap", "PersistentVolumeClaim", "StorageClass":
		return 3
	case "Service":
		return 4
	}
	return 5
}

func (r *Renderer) finding(env checks.Env, rule, file string, line int, msg string) checks.Finding {
	return checks.Finding{Check: "render", RuleID: rule, Severity: checks.SeverityError, Env: env.Name, Message: msg, Origin: checks.Origin{File: file, Line: line}}
}
