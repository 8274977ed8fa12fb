package render

import (
	"context"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/chartrepo"
)

// crdRepo is a cluster with one HelmRelease of an in-repo chart that ships
// a CRD in crds/ and renders another from a template; spec is the
// HelmRelease's install/upgrade block.
func crdRepo(spec string) map[string]string {
	return map[string]string{
		"clusters/prod/op.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: op
  namespace: ops
spec:
  chart:
    spec:
      chart: ./charts/op
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system
` + spec,
		"charts/op/Chart.yaml":  "apiVersion: v2\nname: op\nversion: 1.0.0\n",
		"charts/op/values.yaml": "{}\n",
		"charts/op/crds/widgets.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object}
`,
		"charts/op/templates/gadgets.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: {kind: Gadget, plural: gadgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object}
`,
	}
}

// TestFluxHelmReleaseCRDPolicies: the CRDs of a chart's crds/ directory
// are rendered as helm-controller applies them under install.crds (default
// Create) and upgrade.crds (default Skip), a notice on the policy's line
// says when upgrades would not bring a change to them, CRDs from templates
// always render, and a value outside the enum is an error on its line.
func TestFluxHelmReleaseCRDPolicies(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		widgets    bool   // the crds/ CRD is rendered
		notice     string // substring of the render/flux-crds notice ("" none)
		at         string // where the finding lands
		errMsg     string // an error finding instead of a render
	}{
		{name: "defaults", widgets: true, notice: "upgrades leave them as they are (upgrade.crds: Skip, the default)", at: "clusters/prod/op.yaml:1"},
		{name: "install Skip", spec: "  install:\n    crds: Skip\n", notice: "not rendered: install.crds and upgrade.crds are Skip", at: "clusters/prod/op.yaml:15"},
		{name: "upgrade CreateReplace", spec: "  upgrade:\n    crds: CreateReplace\n", widgets: true},
		{name: "both CreateReplace", spec: "  install:\n    crds: CreateReplace\n  upgrade:\n    crds: CreateReplace\n", widgets: true},
		{name: "upgrade Create", spec: "  upgrade:\n    crds: Create\n", widgets: true, notice: "upgrades only create the ones missing", at: "clusters/prod/op.yaml:15"},
		{name: "install Skip upgrade CreateReplace", spec: "  install:\n    crds: Skip\n  upgrade:\n    crds: CreateReplace\n", widgets: true, notice: "a first install does not create them (install.crds: Skip); upgrades do (upgrade.crds: CreateReplace)", at: "clusters/prod/op.yaml:17"},
		{name: "invalid", spec: "  upgrade:\n    crds: Replace\n", errMsg: `upgrade.crds is "Replace", want Skip, Create or CreateReplace`, at: "clusters/prod/op.yaml:15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := renderFluxRepo(t, crdRepo(tc.spec))
			has := map[string]bool{}
			for _, r := range res.Resources {
				if r.ID.Kind == "CustomResourceDefinition" {
					has[r.ID.Name] = true
				}
			}
			var notices, errs []checks.Finding
			for _, f := range res.Findings {
				switch {
				case f.RuleID == RuleFluxCRDs:
					notices = append(notices, f)
				case f.Severity == checks.SeverityError:
					errs = append(errs, f)
				default:
					t.Errorf("unexpected finding %s", f)
				}
			}
			if tc.errMsg != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Message, tc.errMsg) || errs[0].Origin.String() != tc.at {
					t.Fatalf("want one error %q at %s, got %v", tc.errMsg, tc.at, res.Findings)
				}
				if len(has) != 0 {
					t.Errorf("a HelmRelease the API server rejects rendered %v", has)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if !has["gadgets.example.com"] {
				t.Errorf("the CRD from templates/ is not rendered (it is a release object whatever the policy)")
			}
			if has["widgets.example.com"] != tc.widgets {
				t.Errorf("crds/ CRD rendered = %v, want %v", has["widgets.example.com"], tc.widgets)
			}
			switch {
			case tc.notice == "" && len(notices) > 0:
				t.Errorf("unexpected notice %v", notices)
			case tc.notice != "" && (len(notices) != 1 || !strings.Contains(notices[0].Message, tc.notice) || notices[0].Origin.String() != tc.at || notices[0].Severity != checks.SeverityNotice):
				t.Errorf("want a notice %q at %s, got %v", tc.notice, tc.at, notices)
			}
		})
	}
}

// TestFluxHelmReleaseRenderCache: a HelmRelease's render is cached and
// keyed by the chart's digest, its values and the cluster's Kubernetes
// version: the same inputs are a cache hit, a change of any of them a
// fresh render with the new output.
func TestFluxHelmReleaseRenderCache(t *testing.T) {
	const repoURL = "https://charts.example.com"
	files := func(greeting string) map[string]string {
		return map[string]string{
			"clusters/prod/demo.yaml": `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: demo
  namespace: apps
spec:
  url: ` + repoURL + `
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: apps
spec:
  chart:
    spec:
      chart: demo
      version: 1.0.0
      sourceRef:
        kind: HelmRepository
        name: demo
  values:
    greeting: ` + greeting + `
`,
		}
	}
	chart := func(tag string) []byte {
		return chartrepo.MustTgz(t, "demo", map[string]string{
			"Chart.yaml":        "apiVersion: v2\nname: demo\nversion: 1.0.0\n",
			"values.yaml":       "greeting: hello\n",
			"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  build: " + tag + "\n",
		})
	}
	// Two chart caches holding different archives of demo 1.0.0 (a
	// republished version): different digests, same version.
	cacheA, cacheB := charts.Open(t.TempDir()), charts.Open(t.TempDir())
	if _, err := cacheA.PutArchive(repoURL, "demo", "1.0.0", chart("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := cacheB.PutArchive(repoURL, "demo", "1.0.0", chart("b")); err != nil {
		t.Fatal(err)
	}
	rc, err := OpenCache(t.TempDir(), "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Remotes: []string{"https://github.com/acme/ops.git"}}
	render := func(cc *charts.Cache, greeting, kube string) (map[string]any, bool) {
		t.Helper()
		src := source.NewMem("head", files(greeting))
		envs, finds := Discover(src, cfg)
		if len(finds) > 0 || len(envs) != 1 {
			t.Fatalf("discover: %v %v", envs, finds)
		}
		env := envs[0]
		env.KubernetesVersion = kube
		res := New(Options{Charts: cc, Cache: rc}).Render(context.Background(), src, env)
		for _, r := range res.Resources {
			if r.ID.Kind == "ConfigMap" && r.ID.Name == "web" {
				return r.Object["data"].(map[string]any), res.Cached
			}
		}
		t.Fatalf("no ConfigMap web rendered: %v", res.Findings)
		return nil, false
	}
	for i, step := range []struct {
		what           string
		cache          *charts.Cache
		greeting, kube string
		cached         bool
		wantG, wantBld string
		wantKubePrefix string
	}{
		{"first render", cacheA, "hi", "1.33", false, "hi", "a", "v1.33"},
		{"same inputs", cacheA, "hi", "1.33", true, "hi", "a", "v1.33"},
		{"a value changed", cacheA, "bye", "1.33", false, "bye", "a", "v1.33"},
		{"the Kubernetes version changed", cacheA, "bye", "1.34", false, "bye", "a", "v1.34"},
		{"the chart's digest changed", cacheB, "bye", "1.34", false, "bye", "b", "v1.34"},
		{"same again", cacheB, "bye", "1.34", true, "bye", "b", "v1.34"},
	} {
		data, cached := render(step.cache, step.greeting, step.kube)
		if cached != step.cached || data["greeting"] != step.wantG || data["build"] != step.wantBld || !strings.HasPrefix(data["kube"].(string), step.wantKubePrefix) {
			t.Fatalf("step %d (%s): cached=%v data=%v; want cached=%v greeting=%s build=%s kube %s", i, step.what, cached, data, step.cached, step.wantG, step.wantBld, step.wantKubePrefix)
		}
	}
}
