package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/internal/testing/chartrepo"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// TestEnvsFluxCorpus: on the layout of fluxcd/flux2-kustomize-helm-example
// the environments are the two clusters, each shown with what it applies.
func TestEnvsFluxCorpus(t *testing.T) {
	fluxCorpusRepo := sharedCorpus(t, "../..", "flux2-kustomize-helm-example")
	out, stderr, code := runGate(t, "--repo", fluxCorpusRepo, "envs")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var names []string
	for _, l := range strings.Split(out, "\n")[1:] {
		if l == "" {
			break
		}
		names = append(names, strings.Fields(l)[0])
	}
	if strings.Join(names, ",") != "production,staging" {
		t.Fatalf("environments %v, want production and staging:\n%s", names, out)
	}
	for _, want := range []string{
		"  Cluster production  clusters/production\n",
		"    Kustomization flux-system/apps (path apps/production; dependsOn flux-system/infra-configs)  clusters/production/apps.yaml:2\n",
		"    Kustomization flux-system/infra-configs (path infrastructure/configs; dependsOn flux-system/infra-controllers)  clusters/staging/infrastructure.yaml:18\n",
		"      HelmRelease podinfo/podinfo (chart https://stefanprodan.github.io/podinfo podinfo >=1.0.0-alpha)  apps/base/podinfo/release.yaml:1  NOT RENDERED: chart not cached\n",
		"      HelmRelease cert-manager/cert-manager (chart oci://quay.io/jetstack/charts cert-manager 1.x)  infrastructure/controllers/cert-manager.yaml:23",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("gate envs lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "apps/production/podinfo-values.yaml:9: error render/chart-not-cached") {
		t.Errorf("what was left out is not said on stderr:\n%s", stderr)
	}
	// cert-manager's HelmRelease is one file both clusters apply: one line.
	if n := strings.Count(stderr, "infrastructure/controllers/cert-manager.yaml:36: error render/chart-not-cached"); n != 1 {
		t.Errorf("the shared HelmRelease's finding is said %d times, want once:\n%s", n, stderr)
	}
	out, _, code = runGate(t, "--repo", fluxCorpusRepo, "envs", "-o", "json")
	if code != 0 || !strings.Contains(out, `"notRendered": "chart not cached"`) || !strings.Contains(out, `"kind": "HelmRelease"`) {
		t.Errorf("json envs lack the tree: exit %d\n%s", code, out)
	}
}

// TestRenderFluxCorpus: rendering a cluster fails while a chart it needs
// is not cached, naming the line that asks for it and the fix.
func TestRenderFluxCorpus(t *testing.T) {
	fluxCorpusRepo := sharedCorpus(t, "../..", "flux2-kustomize-helm-example")
	out, stderr, code := runGate(t, "--repo", fluxCorpusRepo, "render", "--env", "production")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (charts not cached): %s", code, stderr)
	}
	for _, want := range []string{"# Source: infrastructure/configs/cluster-issuers.yaml:2", "server: https://acme-v02.api.letsencrypt.org/directory", "kind: HelmRelease"} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q", want)
		}
	}
	if !strings.Contains(stderr, "infrastructure/controllers/cert-manager.yaml:36: error render/chart-not-cached") || !strings.Contains(stderr, "gate charts pull") {
		t.Errorf("stderr does not name the uncached chart's line and the fix:\n%s", stderr)
	}
}

// sharedCorpus finds ../shared/corpus/<name> next to the repository's
// root (root is the repo root relative to the test's directory); in a git
// worktree, next to its main checkout too.
func sharedCorpus(t *testing.T, root, name string) string {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	cands := []string{filepath.Join(abs, "..", "shared", "corpus", name)}
	if b, err := os.ReadFile(filepath.Join(abs, ".git")); err == nil {
		if gd, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: "); ok {
			if i := strings.Index(gd, "/.git/worktrees/"); i >= 0 {
				cands = append(cands, filepath.Join(gd[:i], "..", "shared", "corpus", name))
			}
		}
	}
	for _, c := range cands {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	t.Skipf("corpus %s not present (looked at %v)", name, cands)
	return ""
}

// TestCheckFluxValueBreaksSchema: a pull request that sets a HelmRelease
// value the chart turns into an invalid field fails on the line of that
// value, and only the cluster it reaches is checked.
func TestCheckFluxValueBreaksSchema(t *testing.T) {
	r := gittest.New(t)
	r.CopyTree("../../testdata/flux/fleet")
	r.Commit("base")
	r.Git("checkout", "-q", "-b", "change")
	b, err := os.ReadFile(filepath.Join(r.Dir, "apps/prod/release-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r.Write("apps/prod/release-values.yaml", strings.Replace(string(b), "replicaCount: 3", "replicaCount: three", 1))
	r.Commit("break prod")
	out, stderr, code := runGate(t, "--repo", r.Dir, "check", "--base", "main", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s\n%s", code, stderr, out)
	}
	var rep checks.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range rep.Envs {
		if e.Env.Name == "staging" && e.Status != checks.EnvUntouched {
			t.Errorf("staging, which the change does not reach, was %s", e.Status)
		}
		for _, f := range e.Findings {
			if f.Check == "schema" && f.Severity == checks.SeverityError {
				found = true
				if got := f.Origin.String(); got != "apps/prod/release-values.yaml:8" {
					t.Errorf("schema finding %q at %s, want apps/prod/release-values.yaml:8 (replicaCount)", f.Message, got)
				}
			}
		}
	}
	if !found {
		t.Errorf("no schema error for replicas: three:\n%s", out)
	}
}

// TestRenderFluxCorpusWithCachedCharts: with the charts the corpus asks for
// pulled from loopback repositories (stand-ins under testdata/charts and
// the podinfo copy), `gate render --env production` renders every
// HelmRelease's chart, names the version a range resolved to, and
// contacts no repository while rendering.
func TestRenderFluxCorpusWithCachedCharts(t *testing.T) {
	corpus := sharedCorpus(t, "../..", "flux2-kustomize-helm-example")
	ex := chartrepo.ServeFluxExample(t)
	repo := t.TempDir()
	if err := os.CopyFS(repo, os.DirFS(corpus)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "gate.yaml"), []byte(ex.GateYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	g := []string{"--repo", repo, "--cache-dir", cache}
	if out, stderr, code := runGate(t, append(g, "charts", "pull")...); code != 0 {
		t.Fatalf("charts pull: exit %d\n%s%s", code, out, stderr)
	}
	before := ex.Helm.Hits("/index.yaml")
	out, stderr, code := runGate(t, append(g, "render", "--env", "production")...)
	if code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr)
	}
	if n := ex.Helm.Hits("/index.yaml"); n != before {
		t.Errorf("rendering contacted the chart repository (%d requests)", n-before)
	}
	for _, want := range []string{
		"# Source: apps/base/podinfo/release.yaml:1",                // podinfo's objects, from its HelmRelease
		"# Source: infrastructure/controllers/cert-manager.yaml:23", // cert-manager's objects
		"# Source: infrastructure/controllers/envoy-gateway.yaml:23",
		"podinfo.production", // the production patch's value reached the chart
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q", want)
		}
	}
	envs, _, _ := runGate(t, append(g, "envs")...)
	if !strings.Contains(envs, "HelmRelease podinfo/podinfo (chart https://stefanprodan.github.io/podinfo podinfo >=1.0.0 (cached: ") {
		t.Errorf("gate envs does not name the cached version:\n%s", envs)
	}
}

// TestFluxChartVersionBumpDiff: a pull request that bumps a HelmRelease's
// chart.spec.version shows the change of the rendered chart: base and head
// each render from the chart cache at the version they ask for (pulled by
// `gate charts pull` for the base and the head, as CI does), the version
// each used is named, and checking contacts no repository. A bump to a
// version nobody pulled fails on the version's line with the command that
// fetches it.
func TestFluxChartVersionBumpDiff(t *testing.T) {
	dir := chartrepo.Corpus(t, "charts")
	old := chartrepo.MustPackage(t, filepath.Join(dir, "podinfo"), "6.13.0")
	cur := chartrepo.MustPackage(t, filepath.Join(dir, "podinfo"), "")
	helm := chartrepo.ServeHelm(t, old, cur)
	const upstream = "https://stefanprodan.github.io/podinfo"
	release := func(v string) string {
		return `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 1h
  url: ` + upstream + `
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: podinfo
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      version: "` + v + `"
      sourceRef:
        kind: HelmRepository
        name: podinfo
        namespace: flux-system
  values:
    replicaCount: 2
`
	}
	r := gittest.New(t)
	r.Write("gate.yaml", "charts:\n  allow: ["+upstream+"]\n  mirrors: {\""+upstream+"\": \""+helm.URL+"\"}\n")
	r.Write("clusters/prod/podinfo.yaml", release("6.13.0"))
	r.Write("clusters/staging/podinfo.yaml", release("6.13.0"))
	r.Commit("base")
	r.Git("branch", "base")
	r.Write("clusters/prod/podinfo.yaml", release("6.14.1"))
	r.Commit("bump podinfo in prod")
	cache := t.TempDir()
	g := []string{"--repo", r.Dir, "--cache-dir", cache}
	for _, args := range [][]string{{"charts", "pull", "--base", "base"}, {"charts", "pull"}} {
		if out, stderr, code := runGate(t, append(g, args...)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	hits := helm.Hits("/index.yaml")
	out, stderr, code := runGate(t, append(g, "diff", "--base", "base")...)
	if code != 0 {
		t.Fatalf("diff: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"helm.sh/chart: podinfo-6.13.0", "helm.sh/chart: podinfo-6.14.1", "prod"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	out, stderr, code = runGate(t, append(g, "check", "--base", "base", "-o", "json")...)
	if code > 1 {
		t.Fatalf("check: exit %d\n%s%s", code, out, stderr)
	}
	var rep checks.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, e := range rep.Envs {
		switch e.Env.Name {
		case "staging":
			if e.Status != checks.EnvUntouched {
				t.Errorf("staging, which the bump does not reach, was %s", e.Status)
			}
		case "prod":
			used := false
			for _, f := range e.Findings {
				if f.RuleID == "render/chart-version" && strings.Contains(f.Message, "6.14.1") {
					used = true
				}
			}
			if !used {
				t.Errorf("prod's report does not name the version it rendered: %+v", e.Findings)
			}
		}
	}
	if n := helm.Hits("/index.yaml"); n != hits {
		t.Errorf("diff and check contacted the chart repository (%d requests)", n-hits)
	}

	// A bump to a version the cache lacks: an error on the version's line.
	r.Write("clusters/prod/podinfo.yaml", release("6.15.0"))
	r.Commit("bump podinfo to an unpulled version")
	out, stderr, code = runGate(t, append(g, "check", "--base", "base")...)
	if code != 1 {
		t.Fatalf("check of an uncached version: exit %d, want 1\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"clusters/prod/podinfo.yaml:20", "render/chart-not-cached", "gate charts pull"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}
