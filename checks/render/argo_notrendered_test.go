package render

import (
	"context"
	"fmt"
	"github.com/gate-ops/gate/checks/charts"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

const thisRepo = "https://github.com/acme/ops.git"

// What gate cannot render is a finding on the line that asks for it, and
// the tree marks the source as not rendered: never a silent skip.
func TestArgoNotRendered(t *testing.T) {
	app := func(source string) string {
		return "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: app\n  namespace: argocd\nspec:\n  destination:\n    namespace: x\n" + source
	}
	tests := []struct {
		name, source string
		files        map[string]string
		rule         string
		sev          checks.Severity
		line         int
		msg          string
	}{
		{"another repository", "  source:\n    repoURL: https://github.com/other/repo.git\n    path: app\n", nil,
			ruleNotRendered, checks.SeverityWarning, 10, "https://github.com/other/repo.git at HEAD is another repository"},
		{"another branch", "  source:\n    repoURL: git@github.com:acme/ops\n    path: app\n    targetRevision: release-1.2\n", nil,
			ruleNotRendered, checks.SeverityWarning, 12, `revision "release-1.2"`},
		{"chart from a Helm repository", "  source:\n    repoURL: https://charts.example.com\n    chart: redis\n    targetRevision: 1.2.3\n", nil,
			"render/chart-not-cached", checks.SeverityError, 11, "gate charts pull"},
		{"plugin", "  source:\n    repoURL: " + thisRepo + "\n    path: app\n    plugin:\n      name: sops\n", map[string]string{"app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"},
			ruleNotRendered, checks.SeverityWarning, 12, "config management plugin"},
		{"jsonnet", "  source:\n    repoURL: " + thisRepo + "\n    path: app\n", map[string]string{"app/main.jsonnet": "{}\n", "app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"},
			ruleNotRendered, checks.SeverityWarning, 1, "jsonnet is out of gate's scope"},
		{"values file over http", "  source:\n    repoURL: " + thisRepo + "\n    path: chart\n    helm:\n      valueFiles:\n      - https://example.com/values.yaml\n", map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n", "chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"},
			ruleNotRendered, checks.SeverityWarning, 14, "fetched from the network"},
		{"missing values file", "  source:\n    repoURL: " + thisRepo + "\n    path: chart\n    helm:\n      valueFiles:\n      - nope.yaml\n", map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"},
			"render/missing-file", checks.SeverityError, 14, "nope.yaml does not exist"},
		{"path outside the repo", "  source:\n    repoURL: " + thisRepo + "\n    path: ../../etc\n", nil,
			"render/path-escape", checks.SeverityError, 11, "must be inside the repo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"apps/app.yaml": app(tc.source)}
			for k, v := range tc.files {
				files[k] = v
			}
			src := source.NewMem("head", files)
			cfg := &config.Config{Repository: config.Repository{URLs: []string{thisRepo}}}
			envs, finds := Discover(src, cfg)
			if len(finds) > 0 {
				t.Fatalf("discover: %v", finds)
			}
			sel, err := SelectEnvs(envs, []string{"app"})
			if err != nil {
				t.Fatal(err)
			}
			res := New(Options{}).Render(context.Background(), src, sel[0])
			var found *checks.Finding
			for i, f := range res.Findings {
				if f.RuleID == tc.rule {
					found = &res.Findings[i]
				}
			}
			if found == nil {
				t.Fatalf("no %s finding in %v", tc.rule, res.Findings)
			}
			wantFile := "apps/app.yaml"
			if tc.name == "jsonnet" {
				wantFile = "app/main.jsonnet"
			}
			if found.Origin.File != wantFile || found.Origin.Line != tc.line || found.Severity != tc.sev || !strings.Contains(found.Message, tc.msg) {
				t.Errorf("finding %s, want %s:%d %s containing %q", found, wantFile, tc.line, tc.sev, tc.msg)
			}
		})
	}
}

// Argo CD environments go through the render cache like the others: the
// second run loads every one, with the same objects and findings.
func TestArgoRenderCache(t *testing.T) {
	src, cfg := openArgo(t)
	envs, _ := Discover(src, cfg)
	c, err := OpenCache(t.TempDir(), "test")
	if err != nil {
		t.Fatal(err)
	}
	first := New(Options{Cache: c}).RenderAll(context.Background(), src, envs)
	second := New(Options{Cache: c}).RenderAll(context.Background(), src, envs)
	for i, res := range second {
		if !res.Cached {
			t.Errorf("%s: not loaded from the cache on the second run", res.Env.Name)
		}
		if asYAML(res) != asYAML(first[i]) || len(res.Findings) != len(first[i].Findings) {
			t.Errorf("%s: cached render differs", res.Env.Name)
		}
	}
}

// An Application whose source is a chart of a Helm repository renders from
// the chart cache, with values from a $ref source of this repo.
func TestArgoChartFromCache(t *testing.T) {
	src := source.NewMem("head", map[string]string{
		"apps/app.yaml": `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: app
  namespace: argocd
spec:
  destination:
    namespace: web
  sources:
  - repoURL: https://charts.example.com
    chart: demo
    targetRevision: 1.x
    helm:
      releaseName: web
      valueFiles:
      - $values/values/demo.yaml
  - repoURL: ` + thisRepo + `
    ref: values
`,
		"values/demo.yaml": "greeting: hi\n",
	})
	cfg := &config.Config{Repository: config.Repository{URLs: []string{thisRepo}}}
	envs, _ := Discover(src, cfg)
	sel, err := SelectEnvs(envs, []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sel[0].Tree {
		if n.Kind == "source/chart" && n.NotRendered != "" {
			t.Errorf("discovery (which has no chart cache) marks the chart not rendered: %+v", n)
		}
	}
	dir := t.TempDir()
	cache := charts.Open(dir)
	res := New(Options{Charts: cache}).Render(context.Background(), src, sel[0])
	if len(res.Findings) != 1 || res.Findings[0].RuleID != charts.RuleNotCached || res.Findings[0].Origin.String() != "apps/app.yaml:11" ||
		!strings.Contains(res.Findings[0].Message, "gate charts pull --cache-dir "+dir+" --url https://charts.example.com --chart demo --version 1.x") {
		t.Fatalf("uncached chart: %v", res.Findings)
	}
	if err := cache.PutIndex("https://charts.example.com", "demo", []string{"1.0.0", "1.1.0"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.PutArchive("https://charts.example.com", "demo", "1.1.0", demoChart(t, "1.1.0")); err != nil {
		t.Fatal(err)
	}
	r := New(Options{Charts: cache})
	res = r.Render(context.Background(), src, sel[0])
	if len(res.Findings) != 0 || len(res.Resources) != 1 {
		t.Fatalf("render: %d resources, %v", len(res.Resources), res.Findings)
	}
	cm := res.Resources[0]
	data := cm.Object["data"].(map[string]any)
	if cm.ID.Name != "web-demo" || data["version"] != "1.1.0" || data["greeting"] != "hi" || cm.Origin.String() != "apps/app.yaml:11" {
		t.Fatalf("rendered %v %v at %s", cm.ID, data, cm.Origin)
	}
}

// The cluster generator lists the clusters gate.yaml declares (Argo CD
// keeps them in Secrets outside the repo), narrowed by its selector; the
// generated Applications render again from the environment alone.
func TestArgoClusterGenerator(t *testing.T) {
	files := map[string]string{
		"gate.yaml": "repository:\n  urls: [" + thisRepo + "]\nargocd:\n  clusters:\n  - name: prod-1\n    server: https://prod-1.example.com\n    labels: {env: prod}\n  - name: prod-2\n    server: https://prod-2.example.com\n    labels: {env: prod}\n  - name: dev\n    server: https://dev.example.com\n    labels: {env: dev}\n",
		"appset.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: web
spec:
  generators:
  - clusters:
      selector:
        matchLabels:
          env: prod
  template:
    metadata:
      name: 'web-{{name}}'
    spec:
      source:
        repoURL: ` + thisRepo + `
        path: web
      destination:
        server: '{{server}}'
        namespace: web
`,
		"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
	}
	src := source.NewMem("head", files)
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	envs, finds := Discover(src, cfg)
	if len(finds) > 0 {
		t.Fatal(finds)
	}
	var names []string
	for _, e := range envs {
		names = append(names, e.Name+"="+e.Cluster)
		res := New(Options{}).Render(context.Background(), src, e)
		if len(res.Findings) > 0 || len(res.Resources) != 1 {
			t.Errorf("%s: %d resources, %v", e.Name, len(res.Resources), res.Findings)
		}
	}
	if got := strings.Join(names, " "); got != "web-prod-1=https://prod-1.example.com web-prod-2=https://prod-2.example.com" {
		t.Errorf("envs: %s", got)
	}

	// environmentPer: cluster renders both Applications of a cluster as one
	// environment.
	files["gate.yaml"] = "repository:\n  urls: [" + thisRepo + "]\nargocd:\n  environmentPer: cluster\n"
	app := func(name, path string) string {
		return "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: " + name + "\nspec:\n  source:\n    repoURL: " + thisRepo + "\n    path: " + path + "\n  destination:\n    server: https://prod.example.com\n"
	}
	delete(files, "appset.yaml")
	files["apps/a.yaml"] = app("a", "web")
	files["apps/b.yaml"] = app("b", "api")
	files["api/cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\n"
	src = source.NewMem("head", files)
	cfg, _, err = config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	envs, _ = Discover(src, cfg)
	if len(envs) != 1 || envs[0].Name != "prod.example.com" {
		t.Fatalf("envs: %+v", envs)
	}
	res := New(Options{}).Render(context.Background(), src, envs[0])
	if len(res.Findings) > 0 || len(res.Resources) != 2 {
		t.Fatalf("cluster env: %d resources, %v", len(res.Resources), res.Findings)
	}
}

// argocd-example-apps keeps its app of apps as a chart the root
// Application of which is made with `argocd app create`: gate stands in for
// that root, so every Application the chart renders is an environment.
func TestArgoImplicitRoot(t *testing.T) {
	files := map[string]string{
		"apps/Chart.yaml":  "apiVersion: v2\nname: apps\nversion: 0.1.0\n",
		"apps/values.yaml": "apps: [web, api]\n",
		"apps/templates/apps.yaml": `{{- range .Values.apps }}
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {{ . }}
  namespace: argocd
spec:
  source:
    repoURL: ` + thisRepo + `
    path: {{ . }}
  destination:
    namespace: {{ . }}
---
{{ end -}}
`,
		"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
		"api/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\n",
	}
	cfg := &config.Config{Repository: config.Repository{URLs: []string{thisRepo}}}
	names := func(src source.Source) string {
		envs, finds := Discover(src, cfg)
		if len(finds) > 0 {
			t.Fatal(finds)
		}
		var out []string
		for _, e := range envs {
			res := New(Options{}).Render(context.Background(), src, e)
			out = append(out, fmt.Sprintf("%s:%d", e.Name, len(res.Resources)))
		}
		return strings.Join(out, " ")
	}
	if got := names(source.NewMem("head", files)); got != "api:1 apps:2 web:1" {
		t.Errorf("without a root Application: %s", got)
	}
	files["root.yaml"] = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: root\n  namespace: argocd\nspec:\n  source:\n    repoURL: " + thisRepo + "\n    path: apps\n  destination:\n    namespace: argocd\n"
	if got := names(source.NewMem("head", files)); got != "api:1 root:2 web:1" {
		t.Errorf("with a root Application: %s", got)
	}
}

// A hostile ApplicationSet template that loops or grows without bound is
// a finding on the ApplicationSet, not a hang or an out-of-memory.
func TestArgoHostileTemplate(t *testing.T) {
	for name, tmpl := range map[string]string{
		"huge output": `{{ range 100000000 }}xxxxxxxxxx{{ end }}`,
		"panics":      `{{ index .list 5 }}`,
	} {
		t.Run(name, func(t *testing.T) {
			src := source.NewMem("head", map[string]string{"appset.yaml": `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: evil
spec:
  goTemplate: true
  generators:
  - list:
      elements:
      - list: [a]
  template:
    metadata:
      name: '` + tmpl + `'
    spec:
      source: {repoURL: ` + thisRepo + `, path: .}
      destination: {namespace: x}
`})
			cfg := &config.Config{Repository: config.Repository{URLs: []string{thisRepo}}}
			envs, finds := Discover(src, cfg)
			if len(envs) != 0 || len(finds) != 1 || finds[0].Origin.String() != "appset.yaml:11" || finds[0].Severity != checks.SeverityError {
				t.Fatalf("envs %v, findings %v", envs, finds)
			}
		})
	}
}

// A patch an Application adds through kustomize.patches is located on the
// Application's lines, not in the kustomization gate rewrote.
func TestArgoKustomizePatchLines(t *testing.T) {
	src := source.NewMem("head", map[string]string{
		"app.yaml": `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  destination: {namespace: web}
  source:
    repoURL: ` + thisRepo + `
    path: web
    kustomize:
      namePrefix: prod-
      patches:
      - target: {kind: Deployment}
        patch: |-
          - op: replace
            path: /spec/replicas
            value: three
      - patch: |-
          apiVersion: apps/v1
          kind: Deployment
          metadata: {name: web}
          spec:
            minReadySeconds: -1
`,
		"web/kustomization.yaml": "resources:\n- deploy.yaml\n",
		"web/deploy.yaml":        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n",
	})
	cfg := &config.Config{Repository: config.Repository{URLs: []string{thisRepo}}}
	envs, _ := Discover(src, cfg)
	res := New(Options{}).Render(context.Background(), src, envs[0])
	if len(res.Findings) > 0 || len(res.Resources) != 1 {
		t.Fatalf("render: %v", res.Findings)
	}
	d := res.Resources[0]
	for path, want := range map[string]string{
		"spec.replicas":        "app.yaml:16",
		"spec.minReadySeconds": "app.yaml:23",
		"metadata.name":        "app.yaml:21", // the patch names it, as for patches in a kustomization
	} {
		if got := res.Locate(d, strings.Split(path, ".")).String(); got != want {
			t.Errorf("Locate(%s) = %s, want %s", path, got, want)
		}
	}
}

// A value set in an Application's values: block (a YAML string) is located
// on its line inside the block.
func TestArgoHelmValuesBlockLine(t *testing.T) {
	src := source.NewMem("head", map[string]string{
		"app.yaml": `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  destination: {namespace: web}
  source:
    repoURL: ` + thisRepo + `
    path: chart
    helm:
      values: |
        image: nginx
        replicas: three
`,
		"chart/Chart.yaml":  "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"chart/values.yaml": "replicas: 1\nimage: busybox\n",
		"chart/templates/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {{ .Values.replicas }}\n" +
			"  template:\n    spec:\n      containers:\n      - name: web\n        image: {{ .Values.image }}\n",
	})
	cfg := &config.Config{Repository: config.Repository{URLs: []string{thisRepo}}}
	envs, _ := Discover(src, cfg)
	res := New(Options{}).Render(context.Background(), src, envs[0])
	if len(res.Findings) > 0 || len(res.Resources) != 1 {
		t.Fatalf("render: %v", res.Findings)
	}
	d := res.Resources[0]
	for path, want := range map[string]string{
		"spec.replicas":                         "app.yaml:13",
		"spec.template.spec.containers.0.image": "app.yaml:12",
	} {
		if got := res.Locate(d, strings.Split(path, ".")).String(); got != want {
			t.Errorf("Locate(%s) = %s, want %s", path, got, want)
		}
	}
}

// TestArgoSourceChartIsNotAnEnv: a chart that only an Argo CD kustomize
// source's kustomization inflates (helmCharts, chartHome outside its
// directory: argoUsedDirs) is part of that Application, not a Helm
// environment of the conventional layout; a chart nothing uses is one.
func TestArgoSourceChartIsNotAnEnv(t *testing.T) {
	chart := func(name string) map[string]string {
		return map[string]string{
			"environments/" + name + "/Chart.yaml":        "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n",
			"environments/" + name + "/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n",
		}
	}
	files := map[string]string{
		"apps/app.yaml":          "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: app\n  namespace: argocd\nspec:\n  destination:\n    namespace: web\n  source:\n    repoURL: " + thisRepo + "\n    path: app\n",
		"app/kustomization.yaml": "helmGlobals:\n  chartHome: ../environments\nhelmCharts:\n  - name: shared\n    releaseName: shared\n",
	}
	for _, n := range []string{"shared", "unused"} {
		for k, v := range chart(n) {
			files[k] = v
		}
	}
	cfg := &config.Config{Repository: config.Repository{URLs: []string{thisRepo}}}
	envs, _ := Discover(source.NewMem("head", files), cfg)
	var got []string
	for _, e := range envs {
		got = append(got, e.Name+":"+e.Kind)
	}
	if strings.Join(got, ",") != "app:"+KindArgo+",unused:"+KindHelm {
		t.Fatalf("environments %v, want the Application and the unused chart", got)
	}
}
