// Package live compares an environment's rendering with what is running in
// its cluster, the way `kubectl diff --server-side` does: every rendered
// object goes through a server-side apply dry run, and the result is
// compared with the live object. Comparing with the dry run (not the raw
// rendering) means the server's defaults, mutating admission and
// normalisation are on both sides, so only real changes show.
//
// Three things come out of one comparison:
//   - Live: what syncing the head rendering would change in the cluster,
//     including the deletions a pruning sync would make (prune preview);
//   - Drift: where the cluster differs from the base rendering, i.e. changes
//     made by hand, reported apart from what the pull request changes;
//   - findings: the server refusing an object (validation, an immutable
//     field, admission) on the source line that set the field, and problems
//     reaching the cluster, which are never a silent pass.
//
// The package knows nothing of client-go: it talks to a Cluster.
package live

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/diff"
	"github.com/gate-ops/gate/checks/render"
)

// CheckName is the check name on live findings.
const CheckName = "live"

// Rule ids of live findings.
const (
	RuleUnreachable      = "live/unreachable"
	RuleTimeout          = "live/timeout"
	RuleRejected         = "live/rejected"
	RuleUnknownKind      = "live/unknown-kind"
	RuleNamespaceMissing = "live/namespace-missing"
	RuleNewNamespace     = "live/new-namespace"
	RuleNewCRD           = "live/new-crd"
	RuleDryRunForbidden  = "live/dry-run-forbidden"
	RulePruneSelector    = "live/prune-selector"
	RuleDriftUnknown     = "live/drift-unknown"
	RuleError            = "live/error"
)

// Tracking labels Argo CD and Flux put on the objects they manage; the prune
// preview selects by them when gate.yaml gives no live.pruneSelector.
const (
	LabelArgoInstance  = "argocd.argoproj.io/instance"
	LabelAppInstance   = "app.kubernetes.io/instance"
	LabelFluxName      = "kustomize.toolkit.fluxcd.io/name"
	LabelFluxNamespace = "kustomize.toolkit.fluxcd.io/namespace"
	// AnnotationArgoTracking is what Argo CD tracks by with annotation
	// tracking (the default since Argo CD 3.0): no label to select by, so
	// the prune preview lists the environment's kinds in its namespaces
	// and keeps the objects whose tracking id names the application and
	// the object itself ("<app>:<group>/<kind>:<namespace>/<name>").
	AnnotationArgoTracking = "argocd.argoproj.io/tracking-id"
)

// Options tune a comparison.
type Options struct {
	// PruneSelector selects the objects the environment owns in the
	// cluster (gate.yaml live.pruneSelector). Empty: derived from the
	// Argo CD or Flux tracking labels on the environment's live objects.
	PruneSelector string
	// Diff tunes the structured and unified diffs (gate.yaml diff).
	Diff diff.Options
	// Parallelism bounds concurrent API calls; 0 means 8.
	Parallelism int
	// Timeout bounds the whole comparison of one environment; 0 means 2m.
	Timeout time.Duration
	// PingTimeout bounds the first contact with the cluster; 0 means 10s.
	PingTimeout time.Duration
	// Server names the cluster in findings (a kube context or URL).
	Server string
}

// Result is one environment compared with its cluster.
type Result struct {
	// Live is live -> head: what a sync of the head rendering changes,
	// deletions of pruned objects included. Nil when the cluster could not
	// be compared.
	Live *checks.EnvDiff
	// Drift is base -> live: where the cluster differs from the base
	// rendering. Nil without a base rendering.
	Drift    *checks.EnvDiff
	Findings []checks.Finding
	// Selector is the prune selector used: a label selector, or
	// "argocd.argoproj.io/tracking-id=<app>:*" for Argo CD's annotation
	// tracking; empty when prune preview was off.
	Selector string
}

// item is one rendered object on its way through the cluster.
type item struct {
	res  *checks.Resource
	id   checks.ResourceID // namespace resolved
	live map[string]any    // nil: does not exist
	dry  map[string]any    // nil: no comparison possible
	// pending says why dry is the rendered object instead of a dry run;
	// pendingWhy holds the server's refusal, when there was one.
	pending    string
	pendingWhy string
	forbidden  bool
	finds      []checks.Finding
	known      bool     // the server serves the kind
	blame      []string // field blamed for a refusal the server gave no field for
}

type comparer struct {
	c    Cluster
	env  checks.Env
	opts Options
	loc  checks.Locator
	sem  chan struct{}

	// renderedNS and crds are what the head rendering creates, so objects
	// that need them are expected to fail a dry run.
	renderedNS map[string]*checks.Resource
	crds       map[string]string // group|kind -> scope
	// changedCRDs are the CRDs (group|kind) the cluster has and the head
	// rendering changes: their custom resources may need the new schema,
	// which a dry run cannot install first.
	changedCRDs map[string]bool

	mu      sync.Mutex
	liveGet map[string]*getResult
}

type getResult struct {
	once sync.Once
	obj  map[string]any
	err  error
}

// Compare compares head (and base, when not nil) with the cluster. It
// never returns an error: problems are findings on the result.
func Compare(ctx context.Context, c Cluster, head, base *render.Result, opts Options) *Result {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 8
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 10 * time.Second
	}
	out := &Result{}
	cmp := &comparer{c: c, env: head.Env, opts: opts, loc: head, sem: make(chan struct{}, opts.Parallelism),
		renderedNS: map[string]*checks.Resource{}, crds: map[string]string{}, changedCRDs: map[string]bool{}, liveGet: map[string]*getResult{}}

	pctx, cancel := context.WithTimeout(ctx, opts.PingTimeout)
	err := c.Ping(pctx)
	cancel()
	if err != nil {
		out.Findings = append(out.Findings, cmp.envFinding(RuleUnreachable, checks.SeverityError,
			fmt.Sprintf("cannot compare with the live cluster: %v", err)))
		return out
	}
	ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	for _, r := range head.Resources {
		switch {
		case r.ID.Group == "" && r.ID.Kind == "Namespace":
			cmp.renderedNS[r.ID.Name] = r
		case r.ID.Group == "apiextensions.k8s.io" && r.ID.Kind == "CustomResourceDefinition":
			g, _ := nested(r.Object, "spec", "group").(string)
			k, _ := nested(r.Object, "spec", "names", "kind").(string)
			s, _ := nested(r.Object, "spec", "scope").(string)
			cmp.crds[g+"|"+k] = s
		}
	}

	heads := cmp.run(ctx, head.Resources, true)
	var bases []*item
	if base != nil {
		bases = cmp.run(ctx, base.Resources, false)
	}

	// A cluster that stops answering, or a run past its deadline, gives
	// one finding and no diff: a partial diff would read as "no changes".
	if f, ok := lost(ctx, cmp, heads, bases); ok {
		out.Findings = []checks.Finding{f}
		return out
	}

	// Prune preview: live objects the environment owns that head drops.
	own, selFinds := cmp.selector(heads, bases)
	out.Selector = own.String()
	out.Findings = append(out.Findings, selFinds...)
	var pruned []*checks.Resource
	if own.String() != "" {
		var err error
		pruned, err = cmp.listOwned(ctx, own, heads, bases)
		if err != nil {
			out.Findings = append(out.Findings, cmp.errFinding(err, "list the objects the environment owns for the prune preview"))
		}
	}

	// Live: live -> dry run of head.
	var liveSide, headSide []*checks.Resource
	dryToRendered := map[*checks.Resource]*checks.Resource{}
	headKeys := map[string]bool{}
	notices := map[string]bool{}
	forbidden := false
	for _, it := range heads {
		out.Findings = append(out.Findings, it.finds...)
		forbidden = forbidden || it.forbidden
		if it.pending != "" && !notices[it.pending] {
			notices[it.pending] = true
			out.Findings = append(out.Findings, cmp.pendingFinding(it))
		}
		if it.dry == nil {
			// Refused or not comparable: the finding says why. Keep
			// it out of the diff rather than show a made-up state.
			headKeys[it.id.Key()] = true
			continue
		}
		headKeys[it.id.Key()] = true
		if it.live != nil {
			liveSide = append(liveSide, &checks.Resource{ID: it.id, Object: normalize(it.live), Origin: it.res.Origin})
		}
		d := &checks.Resource{ID: it.id, Object: normalize(it.dry), Origin: it.res.Origin, Patches: it.res.Patches}
		dryToRendered[d] = it.res
		headSide = append(headSide, d)
	}
	// A generated ConfigMap or Secret whose hash changed is created under
	// its new name and the old one pruned; the diff pairs them as one
	// change. The old one carries the tracking labels the GitOps tool put
	// on it, which the tool puts on the new one too: not a removal.
	created := map[string]*checks.Resource{}
	for _, it := range heads {
		if it.dry != nil && it.live == nil {
			if k := diff.GeneratedKey(it.res); k != "" {
				created[k] = it.res
			}
		}
	}
	for _, p := range pruned {
		if !headKeys[p.ID.Key()] {
			if k := diff.GeneratedKey(p); k != "" && created[k] != nil {
				p = withoutTracking(p, created[k])
			}
			liveSide = append(liveSide, p)
		}
	}
	if forbidden {
		out.Findings = append(out.Findings, cmp.envFinding(RuleDryRunForbidden, checks.SeverityWarning,
			"the cluster credentials may not run server-side dry runs (they need patch and create, see internal/cluster/rbac.yaml): "+
				"compared the rendering with the live objects client-side, without the server's defaults and validation"))
	}
	lopts := opts.Diff
	lopts.OldName, lopts.NewName = "live", "head"
	lopts.Locate = &mappedLocator{loc: head, m: dryToRendered}
	out.Live = diff.Envs(liveSide, headSide, lopts)

	// Drift: dry run of base -> live.
	if base != nil {
		var baseSide, liveNow []*checks.Resource
		baseKeys := map[string]bool{}
		// Drift entries land on the line of the drifted field in the base
		// rendering (the line a revert or an update would change).
		liveToBase := map[*checks.Resource]*checks.Resource{}
		for _, it := range bases {
			baseKeys[it.id.Key()] = true
			if it.dry == nil {
				if it.known {
					msg := "could not check this object for drift"
					for _, f := range it.finds {
						msg += ": " + f.Message
						break
					}
					f := cmp.finding(it.res, nil, RuleDriftUnknown, checks.SeverityNotice, msg)
					f.Origin = it.res.Origin
					out.Findings = append(out.Findings, f)
				}
				continue
			}
			baseSide = append(baseSide, &checks.Resource{ID: it.id, Object: normalize(it.dry), Origin: it.res.Origin})
			if it.live != nil {
				lr := &checks.Resource{ID: it.id, Object: normalize(it.live), Origin: it.res.Origin}
				liveToBase[lr] = it.res
				liveNow = append(liveNow, lr)
			}
		}
		for _, p := range pruned {
			if !baseKeys[p.ID.Key()] {
				liveNow = append(liveNow, p)
			}
		}
		dopts := opts.Diff
		dopts.OldName, dopts.NewName = "base", "live"
		dopts.Locate = &mappedLocator{loc: base, m: liveToBase}
		out.Drift = diff.Envs(baseSide, liveNow, dopts)
	}

	// Secret values never leave: scrub every text the server or the
	// cluster produced of every value gate has seen.
	var all []*checks.Resource
	all = append(all, head.Resources...)
	if base != nil {
		all = append(all, base.Resources...)
	}
	all = append(all, liveSide...)
	sc := diff.NewScrubber(diff.SecretValues(all))
	sc.ScrubFindings(out.Findings)
	sc.ScrubDiff(out.Live)
	sc.ScrubDiff(out.Drift)
	checks.SortFindings(out.Findings)
	return out
}

// lost reports whether the cluster was lost during the run, as one
// environment-level finding.
func lost(ctx context.Context, cmp *comparer, lists ...[]*item) (checks.Finding, bool) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return cmp.envFinding(RuleTimeout, checks.SeverityError,
			fmt.Sprintf("comparing with the live cluster took longer than %s (gate.yaml live.timeout or --live-timeout)", cmp.opts.Timeout)), true
	}
	for _, its := range lists {
		for _, it := range its {
			if it == nil {
				continue
			}
			for _, f := range it.finds {
				if f.RuleID == RuleUnreachable || f.RuleID == RuleTimeout {
					e := cmp.envFinding(f.RuleID, checks.SeverityError, "lost the live cluster during the comparison: "+f.Message)
					return e, true
				}
			}
		}
	}
	return checks.Finding{}, false
}

// run evaluates resources with bounded parallelism: Namespaces and CRDs
// first (what the other objects need), then the rest. For the head, the
// CRDs the change modifies are known before their custom resources run.
func (cmp *comparer) run(ctx context.Context, rs []*checks.Resource, head bool) []*item {
	items := make([]*item, len(rs))
	first := func(r *checks.Resource) bool {
		return (r.ID.Group == "" && r.ID.Kind == "Namespace") ||
			(r.ID.Group == "apiextensions.k8s.io" && r.ID.Kind == "CustomResourceDefinition")
	}
	for _, phase := range []bool{true, false} {
		var wg sync.WaitGroup
		for i, r := range rs {
			if first(r) != phase {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmp.sem <- struct{}{}
				defer func() { <-cmp.sem }()
				items[i] = cmp.eval(ctx, r)
			}()
		}
		wg.Wait()
		if phase && head {
			for _, it := range items {
				if it != nil && isCRD(it.id) && it.live != nil && it.dry != nil &&
					!reflect.DeepEqual(nested(normalize(it.live), "spec"), nested(normalize(it.dry), "spec")) {
					g, _ := nested(it.res.Object, "spec", "group").(string)
					k, _ := nested(it.res.Object, "spec", "names", "kind").(string)
					cmp.changedCRDs[g+"|"+k] = true
				}
			}
		}
	}
	return items
}

func isCRD(id checks.ResourceID) bool {
	return id.Group == "apiextensions.k8s.io" && id.Kind == "CustomResourceDefinition"
}

// eval resolves one object's scope, reads it live and dry-runs it.
func (cmp *comparer) eval(ctx context.Context, r *checks.Resource) *item {
	it := &item{res: r, id: r.ID}
	obj := deepCopy(r.Object).(map[string]any)
	namespaced, err := cmp.c.Namespaced(ctx, r.ID)
	switch {
	case errors.Is(err, ErrUnknownKind):
		scope, ok := cmp.crds[r.ID.Group+"|"+r.ID.Kind]
		if !ok {
			it.finds = append(it.finds, cmp.finding(r, []string{"kind"}, RuleUnknownKind, checks.SeverityError,
				fmt.Sprintf("the cluster does not serve %s %s and no CustomResourceDefinition in this environment defines it: the sync would fail", r.ID.APIVersion(), r.ID.Kind)))
			return it
		}
		// A custom resource of a CRD this change creates: the server
		// cannot validate it until the CRD exists.
		if scope != "Cluster" && r.ID.Namespace == "" {
			it.id.Namespace = "default"
		}
		it.known = true
		it.pending = "crd:" + r.ID.Group + "|" + r.ID.Kind
		it.dry = withNamespace(obj, it.id.Namespace)
		return it
	case err != nil:
		it.finds = append(it.finds, cmp.errFinding(err, "look up "+r.ID.APIVersion()+" "+r.ID.Kind, r))
		return it
	}
	it.known = true
	if namespaced && it.id.Namespace == "" {
		it.id.Namespace = "default"
	}
	if !namespaced {
		it.id.Namespace = ""
	}
	obj = withNamespace(obj, it.id.Namespace)

	it.live, err = cmp.get(ctx, it.id)
	if err != nil {
		it.finds = append(it.finds, cmp.errFinding(err, "read the live object", r))
		return it
	}
	dry, err := cmp.c.DryRunApply(ctx, obj)
	var rej *RejectedError
	switch {
	case err == nil && it.live == nil:
		// A new object: its server defaults are no change anyone wrote.
		ref := deepCopy(obj).(map[string]any)
		if it.id.Group == "" && it.id.Kind == "Secret" {
			foldStringData(ref)
		}
		it.dry = onlyRendered(dry, ref).(map[string]any)
	case err == nil:
		it.dry = dry
	case errors.As(err, &rej) && rej.MissingNamespace != "":
		if cmp.renderedNS[rej.MissingNamespace] != nil {
			it.pending = "ns:" + rej.MissingNamespace
			it.dry = obj
			return it
		}
		it.finds = append(it.finds, cmp.finding(r, []string{"metadata", "namespace"}, RuleNamespaceMissing, checks.SeverityError,
			fmt.Sprintf("namespace %q does not exist in the cluster and this environment does not create it: the sync would fail", rej.MissingNamespace)))
	case errors.As(err, &rej) && rej.NotPermitted:
		it.forbidden = true
		if it.id.Group == "" && it.id.Kind == "Secret" {
			foldStringData(obj)
		}
		if it.live != nil {
			it.dry = overlay(deepCopy(it.live).(map[string]any), obj)
		} else {
			it.dry = obj
		}
	case errors.As(err, &rej) && cmp.changedCRDs[r.ID.Group+"|"+r.ID.Kind]:
		// The cluster judged the object by the CRD it has, which this
		// change modifies: show it as rendered, say why. (The schema
		// stage validates it against the new CRD offline.)
		it.pending = "crdchanged:" + r.ID.Group + "|" + r.ID.Kind
		it.pendingWhy = rej.Message
		if it.live != nil {
			it.dry = overlay(deepCopy(it.live).(map[string]any), obj)
		} else {
			it.dry = obj
		}
	case errors.As(err, &rej):
		if len(rej.Fields) == 0 && it.live != nil {
			// Admission often names no field: blame the first field this
			// change sets differently from the live object.
			if p := firstDifference(obj, it.live, nil); p != nil {
				it.blame = p
			}
		}
		it.finds = append(it.finds, cmp.rejected(r, rej, it.blame)...)
	default:
		it.finds = append(it.finds, cmp.errFinding(err, "dry-run apply", r))
	}
	return it
}

// get reads a live object once per run (head and base share it).
func (cmp *comparer) get(ctx context.Context, id checks.ResourceID) (map[string]any, error) {
	cmp.mu.Lock()
	g := cmp.liveGet[id.Key()]
	if g == nil {
		g = &getResult{}
		cmp.liveGet[id.Key()] = g
	}
	cmp.mu.Unlock()
	g.once.Do(func() {
		g.obj, g.err = cmp.c.Get(ctx, id)
		if errors.Is(g.err, ErrNotFound) {
			g.obj, g.err = nil, nil
		}
	})
	return g.obj, g.err
}

// rejected turns a refused dry run into one error finding per blamed field,
// each on the source line that set the field.
func (cmp *comparer) rejected(r *checks.Resource, rej *RejectedError, blame []string) []checks.Finding {
	msg := "the API server rejects this object (server-side dry run): " + rej.Message
	if len(rej.Fields) == 0 {
		f := cmp.finding(r, blame, RuleRejected, checks.SeverityError, msg)
		if blame != nil {
			f.Path = strings.Join(blame, ".")
		}
		return []checks.Finding{f}
	}
	var out []checks.Finding
	seen := map[string]bool{}
	for _, f := range rej.Fields {
		fd := cmp.finding(r, SplitFieldPath(f), RuleRejected, checks.SeverityError, msg)
		fd.Path = f
		if k := fd.Origin.String() + "|" + f; !seen[k] {
			seen[k] = true
			out = append(out, fd)
		}
	}
	return out
}

func (cmp *comparer) finding(r *checks.Resource, path []string, rule string, sev checks.Severity, msg string) checks.Finding {
	id := r.ID
	f := checks.Finding{Check: CheckName, RuleID: rule, Severity: sev, Env: cmp.env.Name, Resource: &id, Message: msg}
	if cmp.loc != nil && path != nil {
		f.Origin = cmp.loc.Locate(r, path)
	} else {
		f.Origin = r.Origin
	}
	return f
}

func (cmp *comparer) envFinding(rule string, sev checks.Severity, msg string) checks.Finding {
	if cmp.opts.Server != "" {
		msg = "cluster " + cmp.opts.Server + ": " + msg
	}
	return checks.Finding{Check: CheckName, RuleID: rule, Severity: sev, Env: cmp.env.Name, Message: msg, Origin: checks.Origin{File: cmp.env.Path}}
}

// errFinding reports an API failure; an unreachable cluster or a deadline
// gets its own rule so it is never mistaken for a pass.
func (cmp *comparer) errFinding(err error, doing string, rs ...*checks.Resource) checks.Finding {
	rule := RuleError
	var ue *UnreachableError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		rule = RuleTimeout
		err = fmt.Errorf("%w (live timeout %s)", err, cmp.opts.Timeout)
	case errors.As(err, &ue):
		rule = RuleUnreachable
	}
	msg := fmt.Sprintf("could not %s: %v", doing, err)
	if len(rs) > 0 {
		return cmp.finding(rs[0], nil, rule, checks.SeverityError, msg)
	}
	return cmp.envFinding(rule, checks.SeverityError, msg)
}

func (cmp *comparer) pendingFinding(it *item) checks.Finding {
	kind, what, _ := strings.Cut(it.pending, ":")
	if kind == "ns" {
		at := it.res
		if ns := cmp.renderedNS[what]; ns != nil {
			at = ns // the Namespace object this change adds
		}
		f := cmp.finding(at, nil, RuleNewNamespace, checks.SeverityNotice,
			fmt.Sprintf("namespace %q is created by this change: its objects are shown as rendered; the server validates them once the namespace exists", what))
		f.Resource = nil
		return f
	}
	g, k, _ := strings.Cut(what, "|")
	if kind == "crdchanged" {
		f := cmp.finding(it.res, nil, RuleNewCRD, checks.SeverityNotice,
			fmt.Sprintf("%s.%s: this change modifies its CustomResourceDefinition, and the cluster refuses its objects under the current one (%s): they are shown as rendered; the server validates them once the new CRD is applied", k, g, it.pendingWhy))
		f.Resource = nil
		return f
	}
	f := cmp.finding(it.res, nil, RuleNewCRD, checks.SeverityNotice,
		fmt.Sprintf("%s.%s is defined by a CustomResourceDefinition this change creates: its objects are shown as rendered; the server validates them once the CRD exists", k, g))
	f.Resource = nil
	return f
}

// ownership says how the prune preview finds what the environment owns:
// a label selector, or Argo CD's tracking annotation naming an application.
type ownership struct {
	labels  string
	argoApp string
}

func (o ownership) String() string {
	if o.argoApp != "" {
		return AnnotationArgoTracking + "=" + o.argoApp + ":*"
	}
	return o.labels
}

// owns reports whether a listed live object belongs to the environment.
func (o ownership) owns(obj map[string]any, id checks.ResourceID) bool {
	if o.argoApp == "" {
		return true // the label selector already chose
	}
	ann, _ := nested(obj, "metadata", "annotations").(map[string]any)
	v, _ := ann[AnnotationArgoTracking].(string)
	app, rest, ok := strings.Cut(v, ":")
	if !ok || app != o.argoApp {
		return false
	}
	// Argo CD ignores a tracking id copied onto another object: so does gate.
	return rest == id.Group+"/"+id.Kind+":"+id.Namespace+"/"+id.Name
}

// trackingKeys are the ways GitOps controllers mark what they manage, most
// specific first: Argo CD's instance label, its tracking annotation, the
// Flux kustomize-controller labels, then app.kubernetes.io/instance (Argo
// CD's default label, which Helm charts also set to the release name).
var trackingKeys = []string{LabelArgoInstance, AnnotationArgoTracking, LabelFluxName, LabelAppInstance}

// selector picks how to find what the environment owns: gate.yaml's
// selector, else the Argo CD or Flux tracking labels or annotation found on
// the environment's live objects.
func (cmp *comparer) selector(heads, bases []*item) (ownership, []checks.Finding) {
	if cmp.opts.PruneSelector != "" {
		return ownership{labels: cmp.opts.PruneSelector}, nil
	}
	found := map[string]map[string]bool{}
	for _, its := range [][]*item{heads, bases} {
		for _, it := range its {
			if it == nil || it.live == nil {
				continue
			}
			labels, _ := nested(it.live, "metadata", "labels").(map[string]any)
			annotations, _ := nested(it.live, "metadata", "annotations").(map[string]any)
			for _, k := range trackingKeys {
				var v string
				switch k {
				case AnnotationArgoTracking:
					tid, _ := annotations[k].(string)
					v, _, _ = strings.Cut(tid, ":")
				case LabelFluxName:
					if name, _ := labels[k].(string); name != "" {
						ns, _ := labels[LabelFluxNamespace].(string)
						v = LabelFluxName + "=" + name + "," + LabelFluxNamespace + "=" + ns
					}
				default:
					if l, _ := labels[k].(string); l != "" {
						v = k + "=" + l
					}
				}
				if v == "" {
					continue
				}
				if found[k] == nil {
					found[k] = map[string]bool{}
				}
				found[k][v] = true
			}
		}
	}
	for _, k := range trackingKeys {
		vs := found[k]
		if len(vs) == 1 {
			for v := range vs {
				if k == AnnotationArgoTracking {
					return ownership{argoApp: v}, nil
				}
				return ownership{labels: v}, nil
			}
		}
		if len(vs) > 1 {
			var list []string
			for v := range vs {
				list = append(list, v)
			}
			sort.Strings(list)
			return ownership{}, []checks.Finding{cmp.envFinding(RulePruneSelector, checks.SeverityNotice,
				fmt.Sprintf("prune preview off: the live objects carry several %s values (%s); set live.pruneSelector in gate.yaml", k, strings.Join(list, ", ")))}
		}
	}
	seen := false
	for _, its := range [][]*item{heads, bases} {
		for _, it := range its {
			seen = seen || (it != nil && it.live != nil)
		}
	}
	if !seen {
		return ownership{}, nil // nothing deployed yet, so nothing to prune
	}
	return ownership{}, []checks.Finding{cmp.envFinding(RulePruneSelector, checks.SeverityNotice,
		"prune preview off: no Argo CD or Flux tracking labels or annotation on the live objects and no live.pruneSelector in gate.yaml")}
}

// commonKinds are listed for the prune preview even when neither rendering
// has one: without a base, an object whose kind the head no longer renders
// at all would otherwise go unnoticed.
var commonKinds = []checks.ResourceID{
	{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "ServiceAccount"}, {Version: "v1", Kind: "PersistentVolumeClaim"},
	{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "apps", Version: "v1", Kind: "StatefulSet"},
	{Group: "apps", Version: "v1", Kind: "DaemonSet"}, {Group: "batch", Version: "v1", Kind: "CronJob"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, {Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}, {Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
}

// listOwned lists, for every kind the environment renders (head or base)
// and the common kinds, the live objects the environment owns. With a label
// selector the server selects, in every namespace; with Argo CD's tracking
// annotation there is nothing to select by, so namespaced kinds are listed
// in the environment's namespaces only and filtered here.
func (cmp *comparer) listOwned(ctx context.Context, own ownership, heads, bases []*item) ([]*checks.Resource, error) {
	kinds := map[string]checks.ResourceID{}
	origins := map[string]checks.Origin{}
	namespaces := map[string]bool{}
	for _, its := range [][]*item{heads, bases} {
		for _, it := range its {
			if it == nil || !it.known || strings.HasPrefix(it.pending, "crd:") {
				continue
			}
			if it.id.Namespace != "" {
				namespaces[it.id.Namespace] = true
			}
			k := checks.ResourceID{Group: it.id.Group, Version: it.id.Version, Kind: it.id.Kind}
			kinds[k.Group+"|"+k.Kind] = k
			if _, ok := origins[it.id.Key()]; !ok {
				origins[it.id.Key()] = it.res.Origin
			}
		}
	}
	for _, k := range commonKinds {
		if _, ok := kinds[k.Group+"|"+k.Kind]; !ok {
			kinds[k.Group+"|"+k.Kind] = k
		}
	}
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	nsList := make([]string, 0, len(namespaces))
	for ns := range namespaces {
		nsList = append(nsList, ns)
	}
	sort.Strings(nsList)
	var out []*checks.Resource
	var errs []error
	for _, k := range keys {
		kid := kinds[k]
		var objs []map[string]any
		var err error
		if own.argoApp == "" {
			objs, err = cmp.c.List(ctx, kid, own.labels)
		} else {
			objs, err = cmp.listIn(ctx, kid, nsList)
		}
		if errors.Is(err, ErrUnknownKind) {
			continue // a common kind this cluster does not serve
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", kid.Kind, err))
			continue
		}
		for _, o := range objs {
			id := kid
			id.Namespace, _ = nested(o, "metadata", "namespace").(string)
			id.Name, _ = nested(o, "metadata", "name").(string)
			if dt, _ := nested(o, "metadata", "deletionTimestamp").(string); dt != "" {
				continue // already going away
			}
			if !own.owns(o, id) {
				continue
			}
			out = append(out, &checks.Resource{ID: id, Object: normalize(o), Origin: origins[id.Key()]})
		}
	}
	return out, errors.Join(errs...)
}

// listIn lists every object of a kind: cluster-wide for a cluster-scoped
// kind, else in each of the namespaces.
func (cmp *comparer) listIn(ctx context.Context, kid checks.ResourceID, namespaces []string) ([]map[string]any, error) {
	namespaced, err := cmp.c.Namespaced(ctx, kid)
	if err != nil {
		return nil, err
	}
	if !namespaced {
		return cmp.c.List(ctx, kid, "")
	}
	var out []map[string]any
	for _, ns := range namespaces {
		id := kid
		id.Namespace = ns
		objs, err := cmp.c.List(ctx, id, "")
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// withoutTracking returns a copy of the live object p without the
// tracking labels and annotations that its successor h does not set itself.
func withoutTracking(p, h *checks.Resource) *checks.Resource {
	obj, _ := deepCopy(p.Object).(map[string]any)
	md, _ := obj["metadata"].(map[string]any)
	hmd, _ := h.Object["metadata"].(map[string]any)
	for _, field := range []string{"labels", "annotations"} {
		m, _ := md[field].(map[string]any)
		hm, _ := hmd[field].(map[string]any)
		for _, k := range append([]string{LabelFluxNamespace}, trackingKeys...) {
			if _, set := hm[k]; !set {
				delete(m, k)
			}
		}
		if m != nil && len(m) == 0 {
			delete(md, field)
		}
	}
	cp := *p
	cp.Object = obj
	return &cp
}

// mappedLocator locates fields of dry-run results through the rendered
// object they came from.
type mappedLocator struct {
	loc checks.Locator
	m   map[*checks.Resource]*checks.Resource
}

func (l *mappedLocator) Locate(r *checks.Resource, path []string) checks.Origin {
	src := l.m[r]
	if src == nil {
		return r.Origin
	}
	o := l.loc.Locate(src, path)
	// The server folds a Secret's stringData into data: a changed
	// data key may have been written under stringData.
	if (o == src.Origin || o.Approximate) && len(path) > 1 && path[0] == "data" && src.ID.Group == "" && src.ID.Kind == "Secret" {
		if so := l.loc.Locate(src, append([]string{"stringData"}, path[1:]...)); so != src.Origin && !so.Approximate {
			return so
		}
	}
	return o
}
