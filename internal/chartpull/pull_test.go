package chartpull_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/chartpull"
	"github.com/gate-ops/gate/internal/testing/chartrepo"
)

func scanFluxExample(t *testing.T) []chartpull.Want {
	src, err := source.OpenDir(chartrepo.Corpus(t, "flux2-kustomize-helm-example"), 0)
	if err != nil {
		t.Fatal(err)
	}
	wants, err := chartpull.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	return wants
}

// TestScanFluxExample finds the three charts the Flux example installs,
// on the lines that ask for them.
func TestScanFluxExample(t *testing.T) {
	var got []string
	for _, w := range scanFluxExample(t) {
		got = append(got, w.String())
	}
	want := []string{
		"apps/base/podinfo/release.yaml:11 https://stefanprodan.github.io/podinfo/podinfo@latest",
		"infrastructure/controllers/cert-manager.yaml:37 oci://quay.io/jetstack/charts/cert-manager@1.x",
		"infrastructure/controllers/envoy-gateway.yaml:38 oci://docker.io/envoyproxy/gateway-helm@>= 1.8.0-rc.0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("scan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestScanArgoAndKustomize: Argo CD Applications (OCI without a scheme,
// multi-source) and kustomize helmCharts; templated ApplicationSet values
// are not references.
func TestScanArgoAndKustomize(t *testing.T) {
	src := source.NewMem("base", map[string]string{
		"apps/redis.yaml":      "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: redis\nspec:\n  source:\n    repoURL: registry-1.docker.io/bitnamicharts\n    chart: redis\n    targetRevision: 19.x\n",
		"apps/multi.yaml":      "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: m\nspec:\n  sources:\n    - repoURL: https://charts.example.com\n      chart: web\n      targetRevision: 1.2.3\n    - repoURL: https://github.com/org/ops.git\n      ref: values\n",
		"apps/set.yaml":        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: s\nspec:\n  template:\n    spec:\n      source:\n        repoURL: https://charts.example.com\n        chart: '{{.chart}}'\n",
		"k/kustomization.yaml": "helmCharts:\n  - name: demo\n    repo: https://charts.example.com\n    version: 2.0.0\n  - name: local\n",
	})
	wants, err := chartpull.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range wants {
		got = append(got, w.String())
	}
	want := "apps/multi.yaml:8 https://charts.example.com/web@1.2.3\napps/redis.yaml:8 oci://registry-1.docker.io/bitnamicharts/redis@19.x\nk/kustomization.yaml:2 https://charts.example.com/demo@2.0.0"
	if strings.Join(got, "\n") != want {
		t.Fatalf("scan:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// TestPullFluxExample pulls the Flux example's charts from a loopback Helm
// repository and a real OCI registry through gate.yaml's mirrors: ranges
// resolve to the newest matching version, the cache serves them offline,
// a second pull downloads nothing, and a repository gate.yaml does not
// allow is never contacted.
func TestPullFluxExample(t *testing.T) {
	ex := chartrepo.ServeFluxExample(t)
	cfg, err := config.Parse("gate.yaml", []byte(ex.GateYAML))
	if err != nil {
		t.Fatal(err)
	}
	wants := scanFluxExample(t)
	cache := charts.Open(t.TempDir())
	p := chartpull.New(cache, cfg, nil)
	res := p.Pull(context.Background(), wants)
	var got []string
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Want, r.Err)
		}
		got = append(got, fmt.Sprintf("%s %s fetched=%v", r.Want.Ref.Chart, r.Version, r.Fetched))
	}
	want := "podinfo 6.14.1 fetched=true\ncert-manager v1.19.1 fetched=true\ngateway-helm v1.8.0 fetched=true"
	if strings.Join(got, "\n") != want {
		t.Fatalf("pulled:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	for _, w := range wants {
		c, err := cache.Resolve(w.Ref)
		if err != nil {
			t.Fatalf("resolve %s after pull: %v", w.Ref, err)
		}
		pub := ex.Charts[w.Ref.Chart]
		if c.Digest != charts.Digest(pub[len(pub)-1].Archive) {
			t.Errorf("%s: cached digest %s is not the published archive's", w.Ref.Chart, c.Digest)
		}
	}
	// The older version in range is pinned exactly when asked for.
	old := chartpull.Want{Ref: charts.Ref{Repo: chartrepo.CertManagerRepo, Chart: "cert-manager", Version: "v1.18.2"}}
	if r := p.Pull(context.Background(), []chartpull.Want{old}); r[0].Err != nil || r[0].Version != "v1.18.2" {
		t.Fatalf("pin v1.18.2: %+v", r[0])
	}
	hits := ex.Helm.Hits("/podinfo-6.14.1.tgz")
	again := p.Pull(context.Background(), wants)
	for _, r := range again {
		if r.Err != nil || r.Fetched {
			t.Errorf("second pull of %s: fetched=%v err=%v", r.Want.Ref.Chart, r.Fetched, r.Err)
		}
	}
	if ex.Helm.Hits("/podinfo-6.14.1.tgz") != hits {
		t.Error("a cached chart was downloaded again")
	}

	// Nothing allowed: nothing fetched, each reference says why.
	strict, _ := config.Parse("gate.yaml", []byte("charts:\n  mirrors:\n    "+fmt.Sprintf("%q: %q", chartrepo.PodinfoRepo, ex.Helm.URL)+"\n"))
	before := ex.Helm.Hits("/index.yaml")
	for _, r := range chartpull.New(charts.Open(t.TempDir()), strict, nil).Pull(context.Background(), wants) {
		var na *chartpull.NotAllowedError
		if !errors.As(r.Err, &na) {
			t.Errorf("%s: %v, want NotAllowedError", r.Want.Ref, r.Err)
		}
	}
	if ex.Helm.Hits("/index.yaml") != before {
		t.Error("a repository outside charts.allow was contacted")
	}
}

// TestPullRefusesTamperedArchive: an archive whose digest is not the one
// the index lists is not cached.
func TestPullRefusesTamperedArchive(t *testing.T) {
	good := chartrepo.MustPackage(t, chartrepo.RepoRoot()+"/testdata/charts/gateway-helm", "")
	bad := good
	bad.Archive = chartrepo.MustTgz(t, "gateway-helm", map[string]string{"Chart.yaml": "apiVersion: v2\nname: gateway-helm\nversion: v1.8.0\n"})
	repo := chartrepo.ServeHelm(t, good)
	cfg, _ := config.Parse("gate.yaml", []byte(fmt.Sprintf("charts:\n  allow: [%s]\n", repo.URL)))
	cache := charts.Open(t.TempDir())
	// Serve the index of the good archive but the bytes of another.
	repo.Swap(bad)
	r := chartpull.New(cache, cfg, nil).Pull(context.Background(), []chartpull.Want{{Ref: charts.Ref{Repo: repo.URL, Chart: "gateway-helm"}}})
	if r[0].Err == nil || !strings.Contains(r[0].Err.Error(), "the repository says") {
		t.Fatalf("tampered archive: %+v", r[0])
	}
	if _, err := cache.Resolve(charts.Ref{Repo: repo.URL, Chart: "gateway-helm"}); !charts.IsNotCached(err) {
		t.Fatalf("the tampered archive was cached: %v", err)
	}
}
