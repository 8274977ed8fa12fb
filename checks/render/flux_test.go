package render

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/corpus"
)

// fluxCorpus is a copy of fluxcd/flux2-kustomize-helm-example, read in
// place (CI has it at the same place relative to the repo).
func fluxCorpus(t *testing.T) string {
	const name = "flux2-kustomize-helm-example"
	d := corpus.SharedDir("../..", name)
	if d == "" {
		t.Skipf("corpus %s not present next to the checkout", name)
	}
	return d
}

func openFluxCorpus(t *testing.T) (*source.Dir, *config.Config) {
	t.Helper()
	src, err := source.OpenDir(fluxCorpus(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	return src, cfg
}

func TestFluxCorpusEnvsAreTheClusters(t *testing.T) {
	src, cfg := openFluxCorpus(t)
	envs, finds := Discover(src, cfg)
	if len(finds) > 0 {
		t.Fatalf("discover: %v", finds)
	}
	var got []string
	for _, e := range envs {
		got = append(got, e.Name+"="+e.Kind+":"+e.Path)
	}
	want := []string{"production=flux:clusters/production", "staging=flux:clusters/staging"}
	if !slices.Equal(got, want) {
		t.Fatalf("environments = %v, want %v (a Flux repo's environments are its clusters)", got, want)
	}
}

func TestFluxCorpusTreeGolden(t *testing.T) {
	src, cfg := openFluxCorpus(t)
	envs, _ := Discover(src, cfg)
	r := New(Options{})
	var b strings.Builder
	for _, e := range envs {
		tree, finds := r.fluxTree(context.Background(), nil, src, e)
		j, err := json.MarshalIndent(tree, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("# " + e.Name + "\n")
		b.Write(j)
		b.WriteString("\n")
		for _, f := range finds {
			b.WriteString(f.String() + "\n")
		}
	}
	golden(t, "flux-corpus-tree.golden", b.String())
}

// fluxKustomizeBuild builds with the kustomize CLI when there is one
// (GATE_KUSTOMIZE_BIN, or bin/kustomize from make tools), else with krusty
// as `kustomize build` does.
func fluxKustomizeBuild(t *testing.T, dir string) [][]byte {
	t.Helper()
	bin := os.Getenv("GATE_KUSTOMIZE_BIN")
	if bin == "" {
		bin, _ = filepath.Abs("../../bin/kustomize")
	}
	if _, err := os.Stat(bin); err != nil {
		return kustomizeBuild(t, dir)
	}
	out, err := exec.Command(bin, "build", dir).Output()
	if err != nil {
		t.Fatalf("%s build %s: %v", bin, dir, err)
	}
	var docs [][]byte
	for _, d := range strings.Split(string(out), "\n---\n") {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// TestFluxCorpusRenderMatchesKustomize: `gate render --env production`
// holds what kustomize builds for every Kustomization of the cluster, with
// what kustomize-controller adds written by hand here: the kustomization
// it generates for clusters/production (which has none) and the patch
// infra-configs carries.
func TestFluxCorpusRenderMatchesKustomize(t *testing.T) {
	src, cfg := openFluxCorpus(t)
	for _, env := range []struct{ name, acme string }{
		{"production", "https://acme-v02.api.letsencrypt.org/directory"},
		{"staging", "https://acme-staging-v02.api.letsencrypt.org/directory"},
	} {
		t.Run(env.name, func(t *testing.T) {
			envs, _ := Discover(src, cfg)
			sel, err := SelectEnvs(envs, []string{env.name})
			if err != nil {
				t.Fatal(err)
			}
			res := New(Options{}).Render(context.Background(), src, sel[0])
			for _, f := range res.Findings {
				if f.RuleID != "render/chart-not-cached" {
					t.Errorf("unexpected finding: %s", f)
				}
			}
			var got [][]byte
			for _, r := range res.Resources {
				got = append(got, r.YAML)
			}
			tmp := t.TempDir()
			copyTree(t, fluxCorpus(t), tmp)
			write := func(rel, content string) {
				t.Helper()
				p := filepath.Join(tmp, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cluster := "clusters/" + env.name
			// kustomize-controller's generated kustomization: every YAML
			// file and every directory with a kustomization. Bootstrap's
			// placeholders hold no object: leave them out.
			write(cluster+"/kustomization.yaml", "resources: [apps.yaml, artifacts.yaml, infrastructure.yaml]\n")
			write("expect/infra-configs/kustomization.yaml", `resources: [../../infrastructure/configs]
patches:
  - patch: |
      - op: replace
        path: /spec/acme/server
        value: `+env.acme+`
    target:
      kind: ClusterIssuer
      name: letsencrypt
`)
			var want [][]byte
			for _, dir := range []string{cluster, "infrastructure/controllers", "expect/infra-configs", "apps/" + env.name} {
				want = append(want, fluxKustomizeBuild(t, filepath.Join(tmp, dir))...)
			}
			compareObjects(t, objectsByID(t, want), objectsByID(t, got))
		})
	}
}

// fluxRepo is a small Flux repo exercising what kustomize-controller and
// helm-controller do beyond kustomize build.
func fluxRepo() map[string]string {
	return map[string]string{
		"clusters/prod/sync.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./apps
  targetNamespace: shop
  namePrefix: prod-
  commonMetadata:
    labels:
      team: shop
  images:
    - name: nginx
      newTag: "1.27"
  patches:
    - patch: |
        - op: replace
          path: /spec/replicas
          value: 3
      target:
        kind: Deployment
  postBuild:
    substitute:
      domain: shop.example.com
    substituteFrom:
      - kind: ConfigMap
        name: cluster-vars
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-vars
  namespace: flux-system
data:
  region: eu-west-1
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: other
  namespace: flux-system
spec:
  url: https://github.com/acme/other-repo
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: elsewhere
  namespace: flux-system
spec:
  sourceRef:
    kind: GitRepository
    name: other
  path: ./deploy
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: pinned
  namespace: flux-system
spec:
  url: git@github.com:acme/ops.git
  ref:
    tag: v1.2.0
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: pinned
  namespace: flux-system
spec:
  sourceRef:
    kind: GitRepository
    name: pinned
  path: ./apps
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: self
  namespace: flux-system
spec:
  url: https://github.com/acme/ops
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: releases
  namespace: flux-system
spec:
  dependsOn:
    - name: apps
  sourceRef:
    kind: GitRepository
    name: self
  path: ./releases
`,
		"clusters/prod/flux-system/gotk-sync.yaml":     "# written by flux bootstrap\n",
		"clusters/prod/flux-system/kustomization.yaml": "resources: [gotk-sync.yaml]\n",
		// No kustomization: Flux generates one over every YAML file below.
		"apps/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.25
          env:
            - name: DOMAIN
              value: ${domain}
            - name: REGION
              value: ${region}
            - name: TIER
              value: ${tier:=gold}
            - name: TYPO
              value: ${regoin}
`,
		"apps/nested/script.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: script
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  run.sh: echo ${HOME}
`,
		"releases/release.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: api
  namespace: shop
spec:
  chart:
    spec:
      chart: ./charts/api
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system
  valuesFrom:
    - kind: ConfigMap
      name: api-values
    - kind: Secret
      name: api-token
      valuesKey: token
      targetPath: auth.token
  values:
    replicaCount: 2
    image:
      tag: "2.0"
  postRenderers:
    - kustomize:
        patches:
          - target:
              kind: Deployment
              name: api
            patch: |
              apiVersion: apps/v1
              kind: Deployment
              metadata:
                name: api
              spec:
                template:
                  metadata:
                    annotations:
                      post-rendered: "yes"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: api-values
  namespace: shop
data:
  values.yaml: |
    image:
      repository: registry.example.com/api
      tag: "1.0"
---
apiVersion: v1
kind: Secret
metadata:
  name: api-token
  namespace: shop
data:
  token: czNjcjN0
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: remote
  namespace: shop
spec:
  chart:
    spec:
      chart: redis
      version: "19.x"
      sourceRef:
        kind: HelmRepository
        name: bitnami
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: bitnami
  namespace: shop
spec:
  url: https://charts.example.com/bitnami
`,
		"charts/api/Chart.yaml":  "apiVersion: v2\nname: api\nversion: 0.1.0\n",
		"charts/api/values.yaml": "replicaCount: 1\nimage:\n  repository: nginx\n  tag: latest\nauth:\n  token: none\n",
		"charts/api/templates/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: {{ .Release.Namespace }}
  labels:
    release: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
            - name: TOKEN_SET
              value: {{ ne .Values.auth.token "none" | quote }}
`,
	}
}

func renderFluxRepo(t *testing.T, files map[string]string) (*Result, checks.Env) {
	t.Helper()
	src := source.NewMem("head", files)
	cfg := &config.Config{Remotes: []string{"git@github.com:acme/ops.git"}}
	envs, finds := Discover(src, cfg)
	if len(finds) > 0 || len(envs) != 1 || envs[0].Kind != KindFlux {
		t.Fatalf("discover = %+v, %v; want one flux environment", envs, finds)
	}
	return New(Options{}).Render(context.Background(), src, envs[0]), envs[0]
}

func TestFluxKustomizationAsKustomizeControllerBuildsIt(t *testing.T) {
	res, _ := renderFluxRepo(t, fluxRepo())
	web := find(t, res, "Deployment", "prod-web")
	if web.ID.Namespace != "shop" {
		t.Errorf("targetNamespace: namespace = %q, want shop", web.ID.Namespace)
	}
	y := string(web.YAML)
	for _, want := range []string{"replicas: 3", "image: nginx:1.27", "team: shop", "value: shop.example.com", "value: eu-west-1", "value: gold"} {
		if !strings.Contains(y, want) {
			t.Errorf("rendered Deployment lacks %q:\n%s", want, y)
		}
	}
	if strings.Contains(y, "${") {
		t.Errorf("variables left in the Deployment:\n%s", y)
	}
	script := find(t, res, "ConfigMap", "prod-script")
	if !strings.Contains(string(script.YAML), "echo ${HOME}") {
		t.Errorf("substitution ran on an object that disables it:\n%s", script.YAML)
	}
	// Findings land on the line the author must change.
	want := map[string]string{
		"render/flux-unset-variable": "apps/deploy.yaml:24",      // ${regoin}
		"render/flux-not-rendered":   "clusters/prod/sync.yaml",  // other repo and the pinned tag
		"render/chart-not-cached":    "releases/release.yaml:70", // version: "19.x"
	}
	seen := map[string]bool{}
	for _, f := range res.Findings {
		w, ok := want[f.RuleID]
		if !ok {
			t.Errorf("unexpected finding %s", f)
			continue
		}
		seen[f.RuleID] = true
		if !strings.HasPrefix(f.Origin.String(), w) {
			t.Errorf("%s at %s, want %s", f.RuleID, f.Origin, w)
		}
	}
	for rule := range want {
		if !seen[rule] {
			t.Errorf("no %s finding; findings: %v", rule, res.Findings)
		}
	}
	var msgs []string
	for _, f := range res.Findings {
		msgs = append(msgs, f.Message)
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"https://github.com/acme/other-repo", `tag "v1.2.0"`, "gate charts pull", "${regoin}"} {
		if !strings.Contains(all, want) {
			t.Errorf("findings do not say %q:\n%s", want, all)
		}
	}
	// The patch from the Flux Kustomization is named where it is written.
	loc := res.Locate(web, []string{"spec", "replicas"})
	if loc.String() != "clusters/prod/sync.yaml:22" {
		t.Errorf("spec.replicas located at %s, want the patch op path in clusters/prod/sync.yaml:22", loc)
	}
}

func TestFluxHelmReleaseRendersItsChart(t *testing.T) {
	res, _ := renderFluxRepo(t, fluxRepo())
	api := find(t, res, "Deployment", "api")
	y := string(api.YAML)
	for _, want := range []string{
		"replicas: 2",                         // spec.values wins over the chart
		"image: registry.example.com/api:2.0", // valuesFrom ConfigMap, then values
		`value: "true"`,                       // valuesFrom Secret with targetPath
		"post-rendered: \"yes\"",              // postRenderers
		"release: api",                        // releaseName defaults to the name
		"namespace: shop",
	} {
		if !strings.Contains(y, want) {
			t.Errorf("HelmRelease output lacks %q:\n%s", want, y)
		}
	}
	// A value set in the HelmRelease is located on its line.
	if loc := res.Locate(api, []string{"spec", "replicas"}); loc.String() != "releases/release.yaml:22" {
		t.Errorf("spec.replicas located at %s, want releases/release.yaml:22 (replicaCount in values)", loc)
	}
	if slices.Contains(res.Files, "charts/api/templates/deploy.yaml") == false {
		t.Errorf("the chart's files are not among the files read: %v", res.Files)
	}
}

func TestFluxTreeShowsWhatRendersAndWhatNot(t *testing.T) {
	src := source.NewMem("head", fluxRepo())
	cfg := &config.Config{Remotes: []string{"https://github.com/acme/ops.git"}}
	envs, _ := Discover(src, cfg)
	tree, _ := New(Options{}).fluxTree(context.Background(), nil, src, envs[0])
	j, err := json.MarshalIndent(tree, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "flux-fixture-tree.golden", string(j)+"\n")
}

func TestFluxDepsFollowTheFilesRead(t *testing.T) {
	files := fluxRepo()
	files["unrelated/kustomization.yaml"] = "resources: []\n"
	src := source.NewMem("head", files)
	cfg := &config.Config{Remotes: []string{"https://github.com/acme/ops.git"}}
	envs, _ := Discover(src, cfg)
	// A cluster's dependencies are what its render probed (no scan).
	res := New(Options{}).Render(context.Background(), src, envs[0])
	probed := map[string]bool{}
	for _, p := range res.Probes {
		probed[p.Path] = true
	}
	for _, p := range []string{"clusters/prod/sync.yaml", "apps/deploy.yaml", "apps/nested/script.yaml", "releases/release.yaml", "charts/api/values.yaml"} {
		if !probed[p] {
			t.Errorf("probes do not include %s: %+v", p, res.Probes)
		}
	}
	for p := range probed {
		if strings.HasPrefix(p, "unrelated/") {
			t.Errorf("probes include %s, a file no Kustomization reaches", p)
		}
	}
}
