package live

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/diff"
)

// prunePreview lists the live objects the environment owns (its
// ownership selector on out); those head drops are what a sync prunes.
func (cmp *comparer) prunePreview(ctx context.Context, out *Result, heads, bases []*item) []*checks.Resource {
	own, selFinds := cmp.selector(heads, bases)
	out.Selector = own.String()
	out.Findings = append(out.Findings, selFinds...)
	if own.String() == "" {
		return nil
	}
	pruned, err := cmp.listOwned(ctx, own, heads, bases)
	if err != nil {
		out.Findings = append(out.Findings, cmp.errFinding(err, "list the objects the environment owns for the prune preview"))
	}
	return pruned
}

// prunedSide are the pruned objects head does not render. A generated
// ConfigMap or Secret whose hash changed is created under its new name and
// the old one pruned; the diff pairs them as one change. The old one
// carries the tracking labels the GitOps tool put on it, which the tool
// puts on the new one too: not a removal.
func prunedSide(heads []*item, pruned []*checks.Resource, headKeys map[string]bool) []*checks.Resource {
	created := map[string]*checks.Resource{}
	for _, it := range heads {
		if it.dry != nil && it.live == nil {
			if k := diff.GeneratedKey(it.res); k != "" {
				created[k] = it.res
			}
		}
	}
	var side []*checks.Resource
	for _, p := range pruned {
		if !headKeys[p.ID.Key()] {
			if k := diff.GeneratedKey(p); k != "" && created[k] != nil {
				p = withoutTracking(p, created[k])
			}
			side = append(side, p)
		}
	}
	return side
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
