package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/internal/testing/chartrepo"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// TestChartsPullThenRender: a repo whose kustomization inflates charts from
// a Helm repository and an OCI registry (served on loopback through
// gate.yaml's mirrors). Rendering before a pull contacts nothing and fails
// with render/chart-not-cached naming the command; that command and
// `gate charts pull` fill the cache; then the render holds the charts'
// objects and names the versions the ranges resolved to.
func TestChartsPullThenRender(t *testing.T) {
	ex := chartrepo.ServeFluxExample(t)
	repo := t.TempDir()
	cache := t.TempDir()
	files := map[string]string{
		"gate.yaml": ex.GateYAML + "environments:\n  - name: infra\n    path: infra\n    kubernetesVersion: \"1.33\"\n",
		"infra/kustomization.yaml": `helmCharts:
  - name: podinfo
    repo: https://stefanprodan.github.io/podinfo
    version: 6.x
    releaseName: podinfo
    namespace: podinfo
  - name: cert-manager
    repo: oci://quay.io/jetstack/charts
    version: 1.x
    releaseName: cert-manager
    namespace: cert-manager
    valuesInline:
      crds:
        enabled: true
`,
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(repo, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := []string{"--repo", repo, "--cache-dir", cache}

	out, stderr, code := runGate(t, append(g, "render", "--all")...)
	if code != 1 {
		t.Fatalf("render before pull: exit %d\n%s%s", code, out, stderr)
	}
	fix := "gate charts pull --cache-dir " + cache + " --url https://stefanprodan.github.io/podinfo --chart podinfo --version 6.x"
	for _, want := range []string{"infra/kustomization.yaml:2: error render/chart-not-cached", fix} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("render before pull lacks %q:\n%s", want, stderr)
		}
	}
	if n := ex.Helm.Hits("/index.yaml"); n != 0 {
		t.Fatalf("rendering contacted the chart repository %d times", n)
	}

	// The command the finding prints pulls that one chart.
	args := append(append([]string{}, g...), strings.Fields(strings.TrimPrefix(fix, "gate charts pull --cache-dir "+cache))...)
	args = append(args[:len(g)], append([]string{"charts", "pull"}, args[len(g):]...)...)
	out, stderr, code = runGate(t, args...)
	if code != 0 || !strings.Contains(out, "pulled  (command line): https://stefanprodan.github.io/podinfo podinfo 6.14.1 (sha256:") {
		t.Fatalf("charts pull --url: exit %d\n%s%s", code, out, stderr)
	}
	// The bare command pulls every reference of the repo.
	out, stderr, code = runGate(t, append(g, "charts", "pull")...)
	if code != 0 || !strings.Contains(out, "cached  infra/kustomization.yaml:2: https://stefanprodan.github.io/podinfo podinfo 6.14.1") ||
		!strings.Contains(out, "pulled  infra/kustomization.yaml:7: oci://quay.io/jetstack/charts cert-manager v1.19.1") {
		t.Fatalf("charts pull: exit %d\n%s%s", code, out, stderr)
	}

	hits := ex.Helm.Hits("/index.yaml")
	out, stderr, code = runGate(t, append(g, "render", "--all")...)
	if code != 0 {
		t.Fatalf("render after pull: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"kind: Deployment\nmetadata:\n  labels:", "name: podinfo", "name: clusterissuers.cert-manager.io", "--enable-gateway-api"} {
		if want == "--enable-gateway-api" {
			if strings.Contains(out, want) {
				t.Errorf("values not asked for rendered: %s", want)
			}
			continue
		}
		if !strings.Contains(out, want) {
			t.Errorf("render after pull lacks %q", want)
		}
	}
	if ex.Helm.Hits("/index.yaml") != hits {
		t.Error("rendering contacted the chart repository")
	}
	out, stderr, code = runGate(t, append(g, "check", "-o", "text")...)
	for _, want := range []string{"chart podinfo 6.x from https://stefanprodan.github.io/podinfo rendered at version 6.14.1", "chart cert-manager 1.x from oci://quay.io/jetstack/charts rendered at version v1.19.1"} {
		if !strings.Contains(out+stderr, want) {
			t.Errorf("check report lacks %q (exit %d):\n%s%s", want, code, out, stderr)
		}
	}

	// Not allowed by gate.yaml: refused, nothing fetched.
	os.WriteFile(filepath.Join(repo, "gate.yaml"), []byte("environments:\n  - name: infra\n    path: infra\n"), 0o644)
	out, _, code = runGate(t, append([]string{"--repo", repo, "--cache-dir", t.TempDir()}, "charts", "pull")...)
	if code != 1 || strings.Count(out, "is not in charts.allow") != 2 {
		t.Fatalf("pull without charts.allow: exit %d\n%s", code, out)
	}
}

// TestChartVersionBumpDiff: a pull request that bumps a chart version
// shows the rendered chart's change, base and head each rendered from the
// chart cache at the version they ask for.
func TestChartVersionBumpDiff(t *testing.T) {
	dir := chartrepo.Corpus(t, "charts")
	old := chartrepo.MustPackage(t, filepath.Join(dir, "podinfo"), "6.13.0")
	cur := chartrepo.MustPackage(t, filepath.Join(dir, "podinfo"), "")
	helm := chartrepo.ServeHelm(t, old, cur)
	r := gittest.New(t)
	cache := t.TempDir()
	kust := func(v string) string {
		return "helmCharts:\n  - name: podinfo\n    repo: https://stefanprodan.github.io/podinfo\n    version: " + v + "\n    releaseName: podinfo\n    namespace: podinfo\n"
	}
	r.Write("gate.yaml", "charts:\n  allow: [https://stefanprodan.github.io/podinfo]\n  mirrors: {\"https://stefanprodan.github.io/podinfo\": \""+helm.URL+"\"}\nenvironments:\n  - name: web\n    path: web\n")
	r.Write("web/kustomization.yaml", kust("6.13.0"))
	r.Commit("base")
	r.Git("branch", "base")
	r.Write("web/kustomization.yaml", kust("6.14.1"))
	r.Commit("bump podinfo")
	g := []string{"--repo", r.Dir, "--cache-dir", cache}
	for _, args := range [][]string{{"charts", "pull", "--base", "base"}, {"charts", "pull"}} {
		if out, stderr, code := runGate(t, append(g, args...)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	out, stderr, code := runGate(t, append(g, "diff", "--base", "base")...)
	if code != 0 {
		t.Fatalf("diff: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"helm.sh/chart: podinfo-6.13.0", "helm.sh/chart: podinfo-6.14.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
}
