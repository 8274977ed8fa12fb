package render

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// fluxCatalogRepo is catalogRepo's apps and environments applied by Flux:
// a cluster per environment whose Kustomizations build envs/<env> (as
// written, or edited by spec.patches and targetNamespace, with postBuild,
// on odd clusters),
// a directory with no kustomization holding one with a kustomization (the
// generated kustomization includes it), postBuild substitution and a
// HelmRelease of a chart in the repo.
func fluxCatalogRepo(envs, apps int) *source.Mem {
	files := catalogFiles(envs, apps)
	delete(files, "gate.yaml")
	files["platform/namespace.yaml"] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: platform\n  labels:\n    region: ${region:=none}\n"
	files["platform/addons/kustomization.yaml"] = "resources:\n  - ../../apps/app00/overlay\nnamespace: platform\n"
	files["charts/cache/Chart.yaml"] = "apiVersion: v2\nname: cache\nversion: 0.1.0\n"
	files["charts/cache/values.yaml"] = "replicas: 1\n"
	files["charts/cache/templates/sts.yaml"] = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n"
	for e := 0; e < envs; e++ {
		name := fmt.Sprintf("env%02d", e)
		edits := ""
		if e%2 == 1 {
			edits = "  targetNamespace: " + name + "-t\n  postBuild:\n    substitute:\n      cluster: " + name + "\n  patches:\n    - target: {kind: Deployment}\n      patch: |\n        - op: replace\n          path: /spec/replicas\n          value: 4\n"
		}
		files["clusters/"+name+"/apps.yaml"] = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  path: ./envs/" + name + "\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n" + edits
		files["clusters/"+name+"/platform.yaml"] = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: platform\n  namespace: flux-system\nspec:\n  path: ./platform\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  postBuild:\n    substitute:\n      region: r" + fmt.Sprint(e%3) + "\n"
		files["clusters/"+name+"/release.yaml"] = fmt.Sprintf("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: cache\n  namespace: %s\nspec:\n  chart:\n    spec:\n      chart: ./charts/cache\n      sourceRef:\n        kind: GitRepository\n        name: flux-system\n        namespace: flux-system\n  values:\n    replicas: %d\n", name, 1+e%2)
	}
	return source.NewMem("flux-catalog", files)
}

// TestRenderAllSharesSubtreesFlux: the Kustomizations of Flux clusters
// take the app overlays they share from RenderAll's memo, and every
// cluster renders exactly as it does alone.
func TestRenderAllSharesSubtreesFlux(t *testing.T) {
	src := fluxCatalogRepo(4, 3)
	all := sameAsAlone(t, src, nil)
	if len(all) != 4 {
		t.Fatalf("%d environments, want 4", len(all))
	}
	for _, res := range all {
		if res.Env.Kind != KindFlux || len(res.Findings) > 0 {
			t.Fatalf("%s: kind %s, findings %v", res.Env.Name, res.Env.Kind, res.Findings)
		}
	}
	// The sharing is what makes it fast: an edited cluster (env01) and a
	// plain one (env02) both take the overlays from the memo.
	for _, i := range []int{1, 2} {
		r := New(Options{})
		m := newMemo(r, src)
		r.renderWith(context.Background(), m, src, all[i].Env)
		built := 0
		for dir, st := range m.subs {
			if !st.ok {
				t.Errorf("%s: subtree %s not usable", all[i].Env.Name, dir)
			}
			built++
		}
		if built != 3+1 { // the cluster's three app overlays and platform/addons' one
			t.Errorf("%s: %d subtrees shared, want 4", all[i].Env.Name, built)
		}
	}
}

// TestRenderAllSharesSubtreesFluxCorpus: the same on the
// flux2-kustomize-helm-example layout.
func TestRenderAllSharesSubtreesFluxCorpus(t *testing.T) {
	src, cfg := openFluxCorpus(t)
	sameAsAlone(t, src, cfg)
}

// TestRenderAllSharesSubtreesArgo: the same for the Applications of the
// Argo CD fixture (kustomize sources, edited by the Application or not).
func TestRenderAllSharesSubtreesArgo(t *testing.T) {
	src, err := source.OpenDir(argoExample, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	sameAsAlone(t, src, cfg)
}

// argoCatalogRepo is catalogRepo's environments as Argo CD Applications
// of this repository, odd ones edited by the Application (kustomize
// namespace and commonAnnotations).
func argoCatalogRepo(envs, apps int) *source.Mem {
	files := catalogFiles(envs, apps)
	files["gate.yaml"] = "apiVersion: gate/v1\nrepository:\n  urls:\n    - https://github.com/acme/ops.git\n"
	var b strings.Builder
	for e := 0; e < envs; e++ {
		name := fmt.Sprintf("env%02d", e)
		fmt.Fprintf(&b, "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: %s\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: https://github.com/acme/ops.git\n    targetRevision: HEAD\n    path: envs/%s\n", name, name)
		if e%2 == 1 {
			b.WriteString("    kustomize:\n      namespace: edited\n      commonAnnotations:\n        team: a\n")
		}
		fmt.Fprintf(&b, "  destination:\n    server: https://kubernetes.default.svc\n    namespace: %s\n", name)
	}
	files["argocd/apps.yaml"] = b.String()
	return source.NewMem("argo-catalog", files)
}

// TestRenderAllSharesSubtreesArgoCatalog: Applications over a catalog take
// the app overlays from the memo, edited or not, and render as alone.
func TestRenderAllSharesSubtreesArgoCatalog(t *testing.T) {
	src := argoCatalogRepo(4, 3)
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	all := sameAsAlone(t, src, cfg)
	for _, i := range []int{0, 1} {
		if all[i].Env.Kind != KindArgo || len(all[i].Findings) > 0 || len(all[i].Resources) != 3*3+1 {
			t.Fatalf("%s: kind %s, %d objects, findings %v", all[i].Env.Name, all[i].Env.Kind, len(all[i].Resources), all[i].Findings)
		}
		r := New(Options{})
		m := newMemo(r, src)
		r.renderWith(context.Background(), m, src, all[i].Env)
		built := 0
		for dir, st := range m.subs {
			if !st.ok {
				t.Errorf("%s: subtree %s not usable", all[i].Env.Name, dir)
			}
			built++
		}
		if built != 3 {
			t.Errorf("%s: %d subtrees shared, want 3", all[i].Env.Name, built)
		}
	}
}

// BenchmarkFluxRender renders a Flux catalog repo (16 clusters of 12 app
// overlays each, a generated kustomization, postBuild and a HelmRelease
// per cluster) with RenderAll, which shares the overlays, and cluster by
// cluster alone, on one core.
func BenchmarkFluxRender(b *testing.B) {
	src := fluxCatalogRepo(16, 12)
	envs, _ := Discover(src, nil)
	r := New(Options{Parallelism: 1})
	benchSharedVsAlone(b, r, src, envs)
}

// TestFluxTreesMatchFluxTree: gate envs' trees (FluxTrees), built with the clusters'
// shared kustomizations built once, are each cluster's tree alone.
func TestFluxTreesMatchFluxTree(t *testing.T) {
	for name, src := range map[string]source.Source{"catalog": fluxCatalogRepo(4, 3), "corpus": func() source.Source { s, _ := openFluxCorpus(t); return s }()} {
		envs, _ := Discover(src, nil)
		if len(envs) < 2 {
			t.Fatalf("%s: %d environments", name, len(envs))
		}
		r := New(Options{})
		trees, finds := r.FluxTrees(context.Background(), src, envs)
		for i, e := range envs {
			tree, fs := New(Options{}).fluxTree(context.Background(), nil, src, e)
			if !reflect.DeepEqual(trees[i], tree) || !reflect.DeepEqual(finds[i], fs) {
				t.Errorf("%s %s: FluxTrees differs from fluxTree alone:\n%v %v\n%v %v", name, e.Name, FlattenFluxTree(trees[i]), finds[i], FlattenFluxTree(tree), fs)
			}
		}
	}
}
