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

	cmp.index(head.Resources)
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

	pruned := cmp.prunePreview(ctx, out, heads, bases)
	liveSide := cmp.live(out, head, heads, pruned)
	if base != nil {
		cmp.drift(out, base, bases, pruned)
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

// index notes the namespaces and the CRDs (their scope) head renders.
func (cmp *comparer) index(rs []*checks.Resource) {
	for _, r := range rs {
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
}

// live diffs the live objects (and those a sync prunes) against the dry
// run of head into out.Live, with head's findings; it returns the live
// side.
func (cmp *comparer) live(out *Result, head *render.Result, heads []*item, pruned []*checks.Resource) []*checks.Resource {
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
	liveSide = append(liveSide, prunedSide(heads, pruned, headKeys)...)
	if forbidden {
		out.Findings = append(out.Findings, cmp.envFinding(RuleDryRunForbidden, checks.SeverityWarning,
			"the cluster credentials may not run server-side dry runs (they need patch and create, see internal/cluster/rbac.yaml): "+
				"compared the rendering with the live objects client-side, without the server's defaults and validation"))
	}
	lopts := cmp.opts.Diff
	lopts.OldName, lopts.NewName = "live", "head"
	lopts.Locate = &mappedLocator{loc: head, m: dryToRendered}
	out.Live = diff.Envs(liveSide, headSide, lopts)
	return liveSide
}

// drift diffs the dry run of base against the live objects into
// out.Drift. Drift entries land on the line of the drifted field in the
// base rendering (the line a revert or an update would change).
func (cmp *comparer) drift(out *Result, base *render.Result, bases []*item, pruned []*checks.Resource) {
	var baseSide, liveNow []*checks.Resource
	baseKeys := map[string]bool{}
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
	dopts := cmp.opts.Diff
	dopts.OldName, dopts.NewName = "base", "live"
	dopts.Locate = &mappedLocator{loc: base, m: liveToBase}
	out.Drift = diff.Envs(baseSide, liveNow, dopts)
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
