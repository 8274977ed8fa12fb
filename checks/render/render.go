// Package render turns an environment of an ops repo into rendered
// Kubernetes objects, each with the source file and line it came from.
//
// Kustomize runs in process (krusty) over a read-only view of a Source, so
// the work tree, a git commit and the staged index render the same way.
// Before kustomize sees a kustomization, gate scans it: remote bases,
// escaping paths, exec functions and plugins are refused with a finding on
// the line that asked for them. Helm charts that live in the repo render in
// process with Helm's engine; plain YAML directories are read as they are.
package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
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
}

// Renderer renders environments. It is safe for concurrent use.
type Renderer struct {
	opts Options
	// openapiMu serialises kustomizations that set openapi:, which mutate
	// kyaml's process-wide schema state.
	openapiMu sync.Mutex
	// argo scans each source's Argo CD objects once (see argo.go).
	argo argoIndex
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
	Files    []string
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
	out := make([]*Result, len(envs))
	sem := make(chan struct{}, r.opts.Parallelism)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	if len(envs) > 1 {
		// Kustomizations several environments include are built once
		// (see memo.go).
		ctx = withMemo(ctx, newMemo(r, src))
	}
	for i, env := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = r.Render(ctx, src, env)
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

// Render renders one environment. It never panics on bad input: problems
// become findings on the Result.
func (r *Renderer) Render(ctx context.Context, src source.Source, env checks.Env) *Result {
	if r.opts.Cache == nil {
		return r.render(ctx, src, env)
	}
	start := time.Now()
	deps := r.deps(src, env, memoFrom(ctx))
	key := r.opts.Cache.key(src, env, deps, r.opts.Limits)
	if key != "" {
		if res, ok := r.opts.Cache.load(key, src, r.opts.Limits); ok {
			res.Duration = time.Since(start)
			r.opts.Logger.Debug("render cache hit", "env", env.Name, "key", key[:12])
			return res
		}
	}
	res := r.render(ctx, src, env)
	if key == "" || errors.Is(ctx.Err(), context.Canceled) {
		return res
	}
	for _, f := range res.Files {
		if !deps.Touches(f) {
			// The scan missed a file kustomize read: never cache what
			// could go stale.
			r.opts.Logger.Debug("render not cached: read outside its scanned deps", "env", env.Name, "file", f)
			return res
		}
	}
	for _, f := range res.Findings {
		if f.RuleID == "render/timeout" || f.RuleID == "render/internal" {
			return res
		}
	}
	if err := r.opts.Cache.store(key, res); err != nil {
		r.opts.Logger.Warn("render cache write failed", "env", env.Name, "err", err)
	}
	return res
}

func (r *Renderer) render(ctx context.Context, src source.Source, env checks.Env) (res *Result) {
	start := time.Now()
	res = newResult(env, src, r.opts.Limits)
	defer func() {
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
		err = r.renderKustomize(ctx, src, env, res)
		if errors.Is(err, errMemoMiss) {
			*res = *newResult(env, src, r.opts.Limits)
			err = r.renderKustomize(withMemo(ctx, nil), src, env, res)
		}
	case KindHelm:
		err = r.renderHelmEnv(ctx, src, env, res)
	case KindPlain:
		err = r.renderPlain(src, env, res)
	case KindFlux:
		err = r.renderFlux(ctx, src, env, res)
	case KindArgo:
		err = r.renderArgoEnv(ctx, src, env, res)
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

var kustErrPathRe = regexp.MustCompile(`'?/([A-Za-z0-9_.@/-]+\.(?:ya?ml|json|env|properties))'?`)
var lineRe = regexp.MustCompile(`line (\d+)`)

// errFinding turns any render error into a finding with the best location.
func (r *Renderer) errFinding(env checks.Env, err error) checks.Finding {
	var re *RefError
	if errors.As(err, &re) {
		return r.finding(env, re.Rule, re.File, re.Line, re.Msg)
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		rule := "render/invalid-yaml"
		if pe.Limit != "" {
			rule = "render/limit"
		}
		return r.finding(env, rule, pe.File, pe.Line, pe.Msg)
	}
	var le *source.LimitError
	if errors.As(err, &le) {
		return r.finding(env, "render/limit", le.Path, 0, le.Error())
	}
	var ke *kustomizeError
	if errors.As(err, &ke) {
		return r.finding(env, "render/kustomize", ke.file, ke.line, ke.msg)
	}
	var ee *source.EscapeError
	if errors.As(err, &ee) {
		return r.finding(env, "render/path-escape", ee.Path, 0, ee.Error())
	}
	// A file that could not be read (a pipe, a device, a permission):
	// the finding is on that file, not on a path guessed from the text.
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) && !errors.Is(err, context.DeadlineExceeded) {
		if c, cerr := source.Clean(pathErr.Path); cerr == nil && c != "." {
			return r.finding(env, "render/read-error", c, 0, strings.ReplaceAll(err.Error(), "\n", " "))
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return r.finding(env, "render/timeout", env.Path, 0, fmt.Sprintf("rendering took longer than %s (limit render-timeout; raise it with --render-timeout or gate.yaml limits.renderTimeout)", r.opts.Timeout))
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	file, line := env.Path, 0
	if m := kustErrPathRe.FindStringSubmatch(msg); m != nil {
		if c, cerr := source.Clean(m[1]); cerr == nil {
			file = c
		}
	}
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return r.finding(env, "render/kustomize", file, line, msg)
}

// kustomizeError is a kustomize failure with secret values scrubbed and
// the kustomization line it most likely refers to.
type kustomizeError struct {
	msg  string
	file string
	line int
}

func (e *kustomizeError) Error() string { return e.msg }

// culprit finds the kustomization that caused a failed build from the
// build's own call path: every kustomization of the graph is built on its
// own, bases before the kustomizations that use them, and the first that
// fails is the one to change (a base that builds alone is not at fault;
// the kustomization that fails only with it is). Components cannot be
// built alone: a broken component is blamed on the kustomization using
// it. This runs only after a build failed.
func culprit(ctx context.Context, fsys *kfs, g *graph, top string) *Kustomization {
	for _, dir := range g.order {
		k := g.byDir[dir]
		if dir == top || k.Component || ctx.Err() != nil {
			continue
		}
		if err := buildAlone(ctx, fsys, dir); err != nil && ctx.Err() == nil {
			return k
		}
	}
	return g.byDir[top]
}

func buildAlone(ctx context.Context, fsys *kfs, dir string) error {
	ch := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- fmt.Errorf("kustomize panicked: %v", p)
			}
		}()
		_, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, "/"+dir)
		ch <- err
	}()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// patchIDRe reads the object a patch names from kustomize's errors about
// it ("no resource matches strategic merge patch \"ConfigMap.v1.[noGrp]/x.[noNs]\"").
var patchIDRe = regexp.MustCompile(`patch "?([A-Za-z0-9]+)\.[^/\s"]*/([^\s"]+?)\.\[`)

// patchBlameLine is the line of the patches: (or patchesStrategicMerge:)
// entry of k whose patch names the object a kustomize error is about, 0
// when there is none.
func patchBlameLine(src source.Source, k *Kustomization, msg string) int {
	m := patchIDRe.FindStringSubmatch(msg)
	if m == nil || k.Root == nil {
		return 0
	}
	names := func(data string) bool {
		docs, err := ParseDocs(k.File, []byte(data), Limits{})
		if err != nil {
			return false
		}
		for _, d := range docs {
			if d.Kind == m[1] && d.Name == m[2] {
				return true
			}
		}
		return false
	}
	for _, field := range []string{"patches", "patchesStrategicMerge"} {
		for _, it := range seqItems(child(k.Root, field)) {
			file, inline, line := "", "", it.Line
			switch {
			case it.Kind == yaml.ScalarNode && strings.Contains(it.Value, "\n"):
				inline = it.Value
			case it.Kind == yaml.ScalarNode:
				file = it.Value
			default:
				file, inline = scalar(it, "path"), scalar(it, "patch")
				if kn := keyNode(it, "path"); kn != nil {
					line = kn.Line
				}
			}
			if inline != "" && names(inline) {
				return line
			}
			if file != "" {
				if b, err := src.ReadFile(path.Join(path.Dir(k.File), file)); err == nil && names(string(b)) {
					return line
				}
			}
		}
	}
	return 0
}

var fieldInMsgRe = regexp.MustCompile(`Kustomization\.([A-Za-z0-9]+)`)

// blameLine finds the line of kustomization k a kustomize error is about:
// the top-level field the error names (json: cannot unmarshal ... into
// Kustomization.images), else the line whose value the message quotes
// last (errors nest "outer: inner: innermost"), else 0.
func blameLine(src source.Source, k *Kustomization, msg string) int {
	if l := patchBlameLine(src, k, msg); l > 0 {
		return l
	}
	for _, m := range fieldInMsgRe.FindAllStringSubmatch(msg, -1) {
		key := m[1]
		if kn := keyNode(k.Root, key); kn != nil {
			return kn.Line
		}
	}
	b, err := src.ReadFile(k.File)
	if err != nil {
		return 0
	}
	bestLine, bestIdx, bestLen := 0, -1, 0
	for i, l := range strings.Split(string(b), "\n") {
		v := strings.TrimSpace(l)
		v = strings.TrimPrefix(v, "- ")
		if strings.HasPrefix(v, "apiVersion:") || strings.HasPrefix(v, "kind:") {
			continue // "Kustomization" is in every kustomize error
		}
		if j := strings.Index(v, ": "); j >= 0 && !strings.Contains(v[:j], " ") {
			v = strings.TrimSpace(v[j+2:])
		}
		v = strings.Trim(v, `"'`)
		if len(v) < 4 {
			continue
		}
		idx := strings.LastIndex(msg, v)
		if idx > bestIdx || idx == bestIdx && idx >= 0 && len(v) > bestLen {
			bestLine, bestIdx, bestLen = i+1, idx, len(v)
		}
	}
	return bestLine
}

// graph is the set of kustomizations one environment builds.
type graph struct {
	byDir map[string]*Kustomization
	order []string // DFS post-order: bases before users
	reach map[string]map[string]bool
	// resFiles are each kustomization's resource files (graph.owns).
	resFiles map[string]map[string]bool
}

func (r *Renderer) scanGraph(src source.Source, rootDir string) (*graph, error) {
	return r.scanGraphWith(src, rootDir, nil)
}

// scanGraphWith is scanGraph taking scanned kustomizations from m, when
// set, which RenderAll shares between environments.
func (r *Renderer) scanGraphWith(src source.Source, rootDir string, m *memo) (*graph, error) {
	g := &graph{byDir: map[string]*Kustomization{}, reach: map[string]map[string]bool{}}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	// States are keyed by the directory symlinks resolve to, so a symlink
	// back to an ancestor is a cycle, not an endless chain of new paths.
	canon := func(dir string) string {
		if r, ok := src.(interface{ Resolve(string) (string, error) }); ok {
			if c, err := r.Resolve(dir); err == nil {
				return c
			}
		}
		return dir
	}
	// The line of the reference to dir in via is only looked up for an
	// error: finding it costs more than scanning the kustomization.
	var visit func(dir string, via *Kustomization, stack []string) error
	visit = func(dir string, via *Kustomization, stack []string) error {
		key := canon(dir)
		switch state[key] {
		case visiting:
			cyc := append(append([]string{}, stack...), dir)
			return &RefError{File: via.File, Line: lineOfRef(via, dir), Rule: "render/cycle", Msg: "kustomization cycle: " + strings.Join(cyc, " -> ")}
		case done:
			return nil
		}
		state[key] = visiting
		file := m.find(src, dir)
		if file == "" {
			if via == nil {
				return &RefError{File: dir, Rule: "render/missing-file", Msg: fmt.Sprintf("no kustomization.yaml in %s", dir)}
			}
			return &RefError{File: via.File, Line: lineOfRef(via, dir), Rule: "render/missing-file", Msg: fmt.Sprintf("%s has no kustomization.yaml", dir)}
		}
		k, err := m.scan(src, file, r.opts.Limits)
		if err != nil {
			return err
		}
		g.byDir[dir] = k
		reach := map[string]bool{dir: true}
		for _, b := range k.Bases {
			if err := visit(b, k, append(stack, dir)); err != nil {
				return err
			}
			for d := range g.reach[b] {
				reach[d] = true
			}
		}
		g.reach[dir] = reach
		state[key] = done
		g.order = append(g.order, dir)
		return nil
	}
	if err := visit(rootDir, nil, nil); err != nil {
		return nil, err
	}
	return g, nil
}

// lineOfRef finds the line where k references base dir b.
func lineOfRef(k *Kustomization, b string) int {
	for _, key := range []string{"resources", "bases", "components"} {
		for _, it := range seqItems(child(k.Root, key)) {
			if p, err := source.Join(k.Dir, strings.TrimSpace(it.Value)); err == nil && p == b {
				return it.Line
			}
		}
	}
	return 0
}

func isYAMLFile(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func (r *Renderer) renderKustomize(ctx context.Context, src source.Source, env checks.Env, res *Result) error {
	g, err := r.scanGraphWith(src, env.Path, memoFrom(ctx))
	if err != nil {
		return err
	}
	fsys := newKFS(src)
	docs := res.docs
	mp := memoFrom(ctx).plan(ctx, src, g, env.Path, docs)
	usesOpenAPI := false
	// Pre-parse every YAML input with gate's limits, so invalid or hostile
	// YAML is a finding on its line before kustomize expands it.
	genInputs := map[string]bool{}
	for _, dir := range mp.outside(g.order) {
		k := g.byDir[dir]
		usesOpenAPI = usesOpenAPI || k.UsesOpenAPI
		fsys.record(k.File)
		for p := range generatorInputs(k) {
			genInputs[p] = true
		}
		for _, f := range k.Files {
			if genInputs[f] || !isYAMLFile(f) {
				continue
			}
			if _, err := docs.get(src, f); err != nil {
				return err
			}
		}
	}
	// Helm charts: render in process and hand kustomize the output as a
	// resource file, so namespace, labels and patches apply as usual.
	helmOrigins := map[string][]helmDoc{}
	helmValues := map[string][]valuesLoc{}
	for _, dir := range g.order {
		k := g.byDir[dir]
		if len(k.HelmCharts) == 0 {
			continue
		}
		var extra []string
		for i, hc := range k.HelmCharts {
			rel, err := helmReleaseFromKustomize(src, k, hc, env.KubernetesVersion, r.opts.Charts)
			if err != nil {
				return err
			}
			if rel.Chart != nil {
				res.Findings = append(res.Findings, ChartUsedFinding(env, k.File, hc.Line, rel.Chart))
			}
			hdocs, err := renderHelm(ctx, src, rel, fsys.record)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					return err
				}
				if re := (*RefError)(nil); errors.As(err, &re) {
					return re
				}
				return &RefError{File: k.File, Line: hc.Line, Rule: "render/helm", Msg: err.Error()}
			}
			vname := fmt.Sprintf("%s%d_%s.yaml", virtualPrefix, i, scalar(hc.Node, "name"))
			vpath := path.Join(k.Dir, vname)
			var b strings.Builder
			for _, d := range hdocs {
				b.WriteString("---\n")
				b.WriteString(d.Body)
				if !strings.HasSuffix(d.Body, "\n") {
					b.WriteString("\n")
				}
			}
			fsys.overrides[vpath] = []byte(b.String())
			helmOrigins[vpath] = hdocs
			helmValues[vpath] = kustomizeHelmValues(rel, k.File, i)
			if _, err := docs.parse(vpath, []byte(b.String())); err != nil {
				return &RefError{File: hdocsTemplate(hdocs, err), Line: 0, Rule: "render/helm", Msg: fmt.Sprintf("chart output is not valid YAML: %v", err)}
			}
			extra = append(extra, vname)
		}
		rewritten, err := rewriteKustomization(k.Root, func(root *yaml.Node) {
			removeKey(root, "helmCharts")
			removeKey(root, "helmGlobals")
			appendSeq(root, "resources", extra)
		})
		if err != nil {
			return err
		}
		fsys.overrides[k.File] = rewritten
	}
	top := g.byDir[env.Path]
	userOrigin := hasBuildMetadata(top.Root, "originAnnotations")
	userTransform := hasBuildMetadata(top.Root, "transformerAnnotations")
	if !userOrigin {
		// Origins come from markers on the sources, not from kustomize's
		// originAnnotations (see sourceMarker for why).
		if err := markSources(src, mp.outsideGraph(g), docs, fsys, helmOrigins); err != nil {
			return err
		}
	}

	if err := mp.apply(g, fsys); err != nil {
		return errMemoMiss
	}
	if usesOpenAPI {
		r.openapiMu.Lock()
		defer r.openapiMu.Unlock()
	}
	type out struct {
		m   interface{ Resources() []*resource.Resource }
		err error
	}
	ch := make(chan out, 1)
	initKustomize()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- out{err: fmt.Errorf("kustomize panicked: %v", p)}
			}
		}()
		m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, "/"+env.Path)
		if err != nil {
			ch <- out{err: err}
			return
		}
		ch <- out{m: m}
	}()
	var o out
	select {
	case o = <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	res.Files = mp.reads(fsys.Reads())
	if o.err != nil && mp != nil {
		return errMemoMiss // the ordinary build reports it
	}
	if o.err != nil {
		// kustomize quotes inputs in its errors, secret literals included.
		secrets := secretValues(src, g, docs, fsys, r.opts.Limits)
		file, line := env.Path, 0
		if k := culprit(ctx, fsys, g, env.Path); k != nil {
			file, line = k.File, blameLine(src, k, o.err.Error())
		}
		return &kustomizeError{msg: shorten(scrub(o.err.Error(), secrets)), file: file, line: line}
	}
	lc := &locContext{src: src, env: env, g: g, docs: docs, helm: helmOrigins, helmValues: helmValues}
	for _, kr := range o.m.Resources() {
		ann := kr.GetAnnotations()
		originText := ann[originAnnotation]
		marker := ann[sourceMarker]
		delete(ann, sourceMarker)
		if !userOrigin {
			delete(ann, originAnnotation)
		}
		if !userTransform {
			delete(ann, transformationAnnotation)
		}
		if err := kr.SetAnnotations(ann); err != nil {
			return fmt.Errorf("strip build annotations: %w", err)
		}
		obj, err := appliedObject(kr)
		if err != nil {
			return fmt.Errorf("read rendered object: %w", err)
		}
		if mp.stale(obj) {
			return errMemoMiss
		}
		rsc, err := newResource(normalize(obj).(map[string]any))
		if err != nil {
			return err
		}
		if !userOrigin {
			originText = lc.markedOrigin(rsc, marker)
		}
		rsc.Origin, res.loc[rsc] = lc.origin(rsc, originText)
		rsc.Patches = res.loc[rsc].patchOrigins()
		res.Resources = append(res.Resources, rsc)
	}
	return nil
}

func hdocsTemplate(h []helmDoc, _ error) string {
	if len(h) > 0 {
		return h[0].Template
	}
	return ""
}

func hasBuildMetadata(root *yaml.Node, opt string) bool {
	for _, it := range seqItems(child(root, "buildMetadata")) {
		if it.Value == opt {
			return true
		}
	}
	return false
}

func rewriteKustomization(root *yaml.Node, edit func(*yaml.Node)) ([]byte, error) {
	cp := deepCopy(root)
	edit(cp)
	b, err := yaml.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("rewrite kustomization: %w", err)
	}
	return b, nil
}

func deepCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, ch := range n.Content {
		c.Content[i] = deepCopy(ch)
	}
	return &c
}

func removeKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func appendSeq(m *yaml.Node, key string, vals []string) {
	seq := child(m, key)
	if seq == nil {
		seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, seq)
	}
	for _, v := range vals {
		seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
	}
}

// newResource builds a Resource from a decoded object.
func newResource(obj map[string]any) (*checks.Resource, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	if name == "" {
		name, _ = md["generateName"].(string)
	}
	g, v := checks.ParseAPIVersion(apiVersion)
	y, err := marshalObject(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", kind, name, err)
	}
	return &checks.Resource{ID: checks.ResourceID{Group: g, Version: v, Kind: kind, Namespace: ns, Name: name}, Object: obj, YAML: y}, nil
}

func (r *Renderer) renderHelmEnv(ctx context.Context, src source.Source, env checks.Env, res *Result) error {
	rel := HelmRelease{ChartDir: env.Path, ReleaseName: env.Name, Namespace: env.Namespace, ValuesFiles: env.ValuesFiles, KubeVersion: env.KubernetesVersion, IncludeCRDs: true, SkipTests: true}
	var mu sync.Mutex
	read := map[string]bool{}
	hdocs, err := renderHelm(ctx, src, rel, func(p string) { mu.Lock(); read[p] = true; mu.Unlock() })
	mu.Lock()
	for p := range read {
		res.Files = append(res.Files, p)
	}
	mu.Unlock()
	sort.Strings(res.Files)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if re := (*RefError)(nil); errors.As(err, &re) {
			return re
		}
		return &RefError{File: path.Join(env.Path, "Chart.yaml"), Line: 1, Rule: "render/helm", Msg: err.Error()}
	}
	hl := kustomizeHelmValues(rel, "", 0)
	for _, h := range hdocs {
		ds, err := ParseDocs(h.Template, []byte(h.Body), r.opts.Limits)
		if err != nil {
			return &RefError{File: h.Template, Rule: "render/helm", Msg: fmt.Sprintf("template output is not valid YAML: %v", err)}
		}
		for _, d := range ds {
			// Lines of rendered output do not map to the template: -1.
			n := len(res.Resources)
			if err := r.addDoc(res, h.Template, helmLine(src, h.Template, d), d, -1); err != nil {
				return err
			}
			for _, rsc := range res.Resources[n:] {
				res.loc[rsc].Values = hl
			}
		}
	}
	return nil
}

// kustomizeHelmValues lists the values sources of a release, lowest
// first: the chart's values.yaml, the values files, then (for a
// kustomization's helmCharts entry) its valuesInline.
func kustomizeHelmValues(rel HelmRelease, kust string, entry int) []valuesLoc {
	var vs []valuesLoc
	if !rel.ReplaceValues {
		vs = append(vs, valuesLoc{File: path.Join(rel.ChartDir, "values.yaml")})
	}
	for _, f := range rel.ValuesFiles {
		vs = append(vs, valuesLoc{File: f})
	}
	if kust != "" {
		vs = append(vs, valuesLoc{File: kust, Path: []string{"helmCharts", strconv.Itoa(entry), "valuesInline"}})
	}
	return vs
}

// helmLine finds the line of a rendered document's kind in its template.
func helmLine(src source.Source, tpl string, d Doc) int {
	b, err := src.ReadFile(tpl)
	if err != nil {
		return 1
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == "kind: "+d.Kind {
			return i + 1
		}
	}
	return 1
}

// addDoc adds one parsed document (docIdx is its index in the file's
// ParseDocs result, -1 when its lines do not map to a source file).
func (r *Renderer) addDoc(res *Result, file string, line int, d Doc, docIdx int) error {
	if d.Node.Kind != yaml.MappingNode {
		return &ParseError{File: file, Line: d.Line, Msg: "a Kubernetes object must be a YAML mapping"}
	}
	var obj map[string]any
	if err := d.Node.Decode(&obj); err != nil {
		return &ParseError{File: file, Line: d.Line, Msg: err.Error()}
	}
	obj = normalize(obj).(map[string]any)
	if d.Kind == "List" || strings.HasSuffix(d.Kind, "List") && obj["items"] != nil {
		items, _ := obj["items"].([]any)
		for i, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				return &ParseError{File: file, Line: d.Line, Msg: fmt.Sprintf("items[%d] is not an object", i)}
			}
			rsc, err := newResource(m)
			if err != nil {
				return err
			}
			rsc.Origin = checks.Origin{File: file, Line: line}
			res.loc[rsc] = &locInfo{File: file, Doc: docIdx, Item: i + 1}
			res.Resources = append(res.Resources, rsc)
		}
		return nil
	}
	rsc, err := newResource(obj)
	if err != nil {
		return err
	}
	rsc.Origin = checks.Origin{File: file, Line: line}
	res.loc[rsc] = &locInfo{File: file, Doc: docIdx}
	res.Resources = append(res.Resources, rsc)
	return nil
}

func seqItem(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

// normalize turns yaml.v3's decoded values into JSON-compatible ones.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	case int:
		return int64(t)
	case uint64:
		return int64(t)
	case time.Time:
		return t.Format(time.RFC3339)
	}
	return v
}

func (r *Renderer) renderPlain(src source.Source, env checks.Env, res *Result) error {
	docs := res.docs
	err := fs.WalkDir(src, env.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != env.Path && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !isYAMLFile(p) {
			return nil
		}
		res.Files = append(res.Files, p)
		ds, err := docs.get(src, p)
		if err != nil {
			return err
		}
		for i, doc := range ds {
			if doc.Kind == "" && doc.APIVersion == "" {
				res.Findings = append(res.Findings, checks.Finding{Check: "render", RuleID: "render/not-an-object", Severity: checks.SeverityWarning, Env: env.Name,
					Origin: checks.Origin{File: p, Line: doc.Line}, Message: "YAML document has no apiVersion or kind: not rendered (move non-manifest YAML out of the environment directory)"})
				continue
			}
			if err := r.addDoc(res, p, doc.Line, doc, i); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}
