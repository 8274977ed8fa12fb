package live

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/gate-ops/gate/checks"
)

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

type getResult struct {
	once sync.Once
	obj  map[string]any
	err  error
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
		return cmp.unknownKind(it, obj)
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
	cmp.dryRun(it, obj, dry, err)
	return it
}

// unknownKind is the item of an object whose kind the cluster does not
// serve: an error, unless a CRD this environment renders defines it.
func (cmp *comparer) unknownKind(it *item, obj map[string]any) *item {
	r := it.res
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
}

// dryRun sets what the server's dry run of obj says on it: the object as
// the cluster would store it, or why it cannot tell (a namespace or CRD
// the change creates first, no permission to dry-run, admission refusing
// it).
func (cmp *comparer) dryRun(it *item, obj, dry map[string]any, err error) {
	r := it.res
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
			return
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
