package render

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/chartrepo"
)

// demoChart is a small chart whose ConfigMap shows the chart version and a value.
func demoChart(t *testing.T, version string) []byte {
	return chartrepo.MustTgz(t, "demo", map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: demo\nversion: " + version + "\n",
		"values.yaml":       "greeting: hello\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-demo\ndata:\n  version: {{ .Chart.Version | quote }}\n  greeting: {{ .Values.greeting | quote }}\n",
	})
}

// TestKustomizeHelmChartFromCache renders a kustomize helmCharts entry
// whose chart is not vendored from the chart cache, and reports a chart
// the cache lacks on the entry's line with the command that pulls it.
func TestKustomizeHelmChartFromCache(t *testing.T) {
	src := source.NewMem("head", map[string]string{
		"env/kustomization.yaml": "namespace: apps\nhelmCharts:\n  - name: demo\n    repo: https://charts.example.com\n    version: 1.x\n    releaseName: web\n    valuesInline:\n      greeting: hi\n",
	})
	env := checks.Env{Name: "env", Path: "env", Kind: KindKustomize}
	dir := t.TempDir()
	cache := charts.Open(dir)

	// Nothing cached: one finding on the helmCharts entry, with the command.
	res := New(Options{Charts: cache}).Render(context.Background(), src, env)
	if len(res.Findings) != 1 {
		t.Fatalf("want one finding, got %v", res.Findings)
	}
	f := res.Findings[0]
	if f.RuleID != charts.RuleNotCached || f.Origin.String() != "env/kustomization.yaml:3" ||
		!strings.Contains(f.Message, "gate charts pull --cache-dir "+dir+" --url https://charts.example.com --chart demo --version 1.x") {
		t.Fatalf("finding: %s", f)
	}

	if err := cache.PutIndex("https://charts.example.com", "demo", []string{"1.0.0", "1.1.0"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if _, err := cache.PutArchive("https://charts.example.com", "demo", v, demoChart(t, v)); err != nil {
			t.Fatal(err)
		}
	}
	r := New(Options{Charts: cache})
	res = r.Render(context.Background(), src, env)
	if len(res.Findings) != 1 || len(res.Resources) != 1 {
		t.Fatalf("render: %d resources, %v", len(res.Resources), res.Findings)
	}
	// The report names the version the range resolved to.
	if n := res.Findings[0]; n.RuleID != RuleChartVersion || n.Severity != checks.SeverityNotice || n.Origin.String() != "env/kustomization.yaml:3" ||
		!strings.Contains(n.Message, "chart demo 1.x from https://charts.example.com rendered at version 1.1.0 (sha256:") {
		t.Fatalf("notice: %s", n)
	}
	cm := res.Resources[0]
	data := cm.Object["data"].(map[string]any)
	if cm.ID.Name != "web-demo" || cm.ID.Namespace != "apps" || data["version"] != "1.1.0" || data["greeting"] != "hi" {
		t.Fatalf("rendered %v %v", cm.ID, data)
	}
}

// TestKustomizeHelmChartWithoutCache: with no chart cache configured, the
// finding says so instead of pretending the chart is missing upstream.
func TestKustomizeHelmChartWithoutCache(t *testing.T) {
	src := source.NewMem("head", map[string]string{
		"kustomization.yaml": "helmCharts:\n  - name: redis\n    repo: oci://registry.example.com/charts\n    version: 1.0.0\n",
	})
	res := New(Options{}).Render(context.Background(), src, checks.Env{Name: "x", Path: ".", Kind: KindKustomize})
	if len(res.Findings) != 1 || res.Findings[0].RuleID != charts.RuleNotCached || !strings.Contains(res.Findings[0].Message, "without a chart cache: pass --cache-dir") {
		t.Fatalf("findings: %v", res.Findings)
	}
}

// TestRenderCacheKeysOnChartDigest: a render from the chart cache is
// reused while the chart it resolved to is the same, and renders again
// when a pull brings a newer version in range (same repo files).
func TestRenderCacheKeysOnChartDigest(t *testing.T) {
	src := source.NewMem("head", map[string]string{
		"env/kustomization.yaml": "helmCharts:\n  - name: demo\n    repo: https://charts.example.com\n    version: 1.x\n    releaseName: web\n",
	})
	env := checks.Env{Name: "env", Path: "env", Kind: KindKustomize, KubernetesVersion: "1.33"}
	cache := charts.Open(t.TempDir())
	rc, err := OpenCache(t.TempDir(), "test")
	if err != nil {
		t.Fatal(err)
	}
	put := func(v string) {
		if _, err := cache.PutArchive("https://charts.example.com", "demo", v, demoChart(t, v)); err != nil {
			t.Fatal(err)
		}
	}
	put("1.0.0")
	version := func() (string, bool) {
		res := New(Options{Charts: cache, Cache: rc}).Render(context.Background(), src, env)
		if len(res.Resources) != 1 {
			t.Fatalf("render: %v", res.Findings)
		}
		return res.Resources[0].Object["data"].(map[string]any)["version"].(string), res.Cached
	}
	if v, cached := version(); v != "1.0.0" || cached {
		t.Fatalf("first render: %s cached=%v", v, cached)
	}
	if v, cached := version(); v != "1.0.0" || !cached {
		t.Fatalf("second render: %s cached=%v, want the cached 1.0.0", v, cached)
	}
	put("1.1.0")
	if v, cached := version(); v != "1.1.0" || cached {
		t.Fatalf("after pulling 1.1.0: %s cached=%v, want a fresh 1.1.0", v, cached)
	}
}
