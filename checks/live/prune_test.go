package live_test

import (
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/live"
	"github.com/gate-ops/gate/internal/testing/kubetest"
)

func TestPrunedObjectShowsAsDeletion(t *testing.T) {
	kubetest.Need(t, server)
	withLegacy := map[string]*string{
		"app/kustomization.yaml": ptr(baseFiles["app/kustomization.yaml"] + "- legacy.yaml\n"),
		"app/legacy.yaml": ptr(`apiVersion: v1
kind: ConfigMap
metadata:
  name: legacy
  namespace: NS
data:
  OLD: "1"
`),
	}
	base := renderRepo(t, repo("prune", withLegacy))
	deploy(t, base, "prune")
	// An object of another application in the same namespace is not ours.
	other := renderRepo(t, map[string]string{
		"app/kustomization.yaml": "resources:\n- cm.yaml\n",
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-ours\n  namespace: prune\ndata:\n  A: b\n",
	})
	deploy(t, other, "another-app")
	head := renderRepo(t, repo("prune", nil))
	res := compare(t, head, base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	wantChanges(t, "live", res.Live, "removed ConfigMap/prune/legacy")
	wantChanges(t, "drift", res.Drift)
	if got := res.Live.Changes[0].Origin; got.File != "app/legacy.yaml" {
		t.Errorf("deletion origin %v, want the base file that declared it", got)
	}
	// An explicit selector from gate.yaml wins over the tracking labels.
	res = compare(t, head, base, live.Options{PruneSelector: "argocd.argoproj.io/instance=another-app"})
	wantChanges(t, "live with explicit selector", res.Live, "removed ConfigMap/prune/not-ours")
}

// TestPruneByEachTrackingLabel: the prune preview finds what the
// environment owns by the label each GitOps controller sets: Argo CD's
// instance labels and Flux's kustomize-controller name and namespace. An
// object of another application (or another Flux Kustomization of the
// same name in another namespace) in the same namespace is never listed.
func TestPruneByEachTrackingLabel(t *testing.T) {
	kubetest.Need(t, server)
	tests := []struct {
		ns       string
		tracking map[string]string
		other    map[string]string
		selector string
	}{
		{"prune-argo-app", map[string]string{live.LabelAppInstance: "shop"}, map[string]string{live.LabelAppInstance: "billing"},
			"app.kubernetes.io/instance=shop"},
		{"prune-flux", map[string]string{live.LabelFluxName: "apps", live.LabelFluxNamespace: "flux-system"},
			map[string]string{live.LabelFluxName: "apps", live.LabelFluxNamespace: "team-b"},
			"kustomize.toolkit.fluxcd.io/name=apps,kustomize.toolkit.fluxcd.io/namespace=flux-system"},
	}
	for _, tt := range tests {
		t.Run(tt.ns, func(t *testing.T) {
			withLegacy := map[string]*string{
				"app/kustomization.yaml": ptr(baseFiles["app/kustomization.yaml"] + "- legacy.yaml\n"),
				"app/legacy.yaml":        ptr("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n  namespace: NS\ndata:\n  OLD: \"1\"\n"),
			}
			base := renderRepo(t, repo(tt.ns, withLegacy))
			deployWith(t, base, tt.tracking)
			other := renderRepo(t, map[string]string{
				"app/kustomization.yaml": "resources:\n- cm.yaml\n",
				"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-ours\n  namespace: " + tt.ns + "\ndata:\n  A: b\n",
			})
			deployWith(t, other, tt.other)
			res := compare(t, renderRepo(t, repo(tt.ns, nil)), base, live.Options{})
			if errs := errorFindings(res.Findings); len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if res.Selector != tt.selector {
				t.Errorf("selector %q, want %q", res.Selector, tt.selector)
			}
			wantChanges(t, "live", res.Live, "removed ConfigMap/"+tt.ns+"/legacy")
			wantChanges(t, "drift", res.Drift)
		})
	}
}

// TestPruneByArgoCDTrackingAnnotation: with annotation tracking (Argo CD
// 3's default) there is no label to select by. The prune preview lists the
// environment's namespaces and keeps what the annotation assigns to the
// application, ignoring other applications' objects and a tracking id
// copied onto an object it does not name (as Argo CD does).
func TestPruneByArgoCDTrackingAnnotation(t *testing.T) {
	kubetest.Need(t, server)
	const ns = "prune-annotation"
	withLegacy := map[string]*string{
		"app/kustomization.yaml": ptr(baseFiles["app/kustomization.yaml"] + "- legacy.yaml\n"),
		"app/legacy.yaml":        ptr("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n  namespace: NS\ndata:\n  OLD: \"1\"\n"),
	}
	base := renderRepo(t, repo(ns, withLegacy))
	deployAs(t, base, nil, "shop")
	other := renderRepo(t, map[string]string{
		"app/kustomization.yaml": "resources:\n- cm.yaml\n",
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-ours\n  namespace: " + ns + "\ndata:\n  A: b\n",
	})
	deployAs(t, other, nil, "billing")
	copied := renderRepo(t, map[string]string{
		"app/kustomization.yaml": "resources:\n- cm.yaml\n",
		"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: copy\n  namespace: " + ns + "\n  annotations:\n    " +
			live.AnnotationArgoTracking + ": shop:/ConfigMap:" + ns + "/original\ndata:\n  A: b\n",
	})
	deployAs(t, copied, nil, "")
	res := compare(t, renderRepo(t, repo(ns, nil)), base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if want := live.AnnotationArgoTracking + "=shop:*"; res.Selector != want {
		t.Errorf("selector %q, want %q", res.Selector, want)
	}
	wantChanges(t, "live", res.Live, "removed ConfigMap/"+ns+"/legacy")
	wantChanges(t, "drift", res.Drift)
}

// TestRenamedGeneratedSecretShowsNoLabelRemoval: a secretGenerator whose
// input changes renames its Secret; the live diff pairs the pruned old
// Secret with the new one and shows the key and the name that changed, not
// the removal of the tracking label the GitOps tool puts on both.
func TestRenamedGeneratedSecretShowsNoLabelRemoval(t *testing.T) {
	kubetest.Need(t, server)
	gen := func(v string) map[string]*string {
		return map[string]*string{
			"app/kustomization.yaml": ptr("resources:\n- namespace.yaml\n- deployment.yaml\nsecretGenerator:\n- name: token\n  namespace: NS\n  literals:\n  - TOKEN=" + v + "\n"),
		}
	}
	base := renderRepo(t, repo("rename", gen("first-value")))
	deploy(t, base, "rename")
	head := renderRepo(t, repo("rename", gen("second-value")))
	res := compare(t, head, base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if len(res.Live.Changes) != 1 || res.Live.Changes[0].ID.Kind != "Secret" || res.Live.Changes[0].Action != checks.ActionChanged {
		t.Fatalf("want the renamed Secret as one change, got %q", changeSummary(res.Live))
	}
	var paths []string
	for _, f := range res.Live.Changes[0].Fields {
		paths = append(paths, f.Path)
	}
	if strings.Join(paths, ",") != "data.TOKEN,metadata.name" {
		t.Errorf("renamed Secret fields %v, want data.TOKEN and metadata.name only", paths)
	}
}
