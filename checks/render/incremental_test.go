package render

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks/source"
)

// TestClosureTouches: which environments of the example a changed file
// reaches through their closures (what the engine's change selection
// uses): those whose render reads it, including a file added to a chart's
// templates and a kustomization file added next to the one in use
// (kustomize would pick another), and none for a file outside them all.
func TestClosureTouches(t *testing.T) {
	src, cfg := openExample(t)
	envs, _ := Discover(src, cfg)
	cls := New(Options{}).Closures(src, envs)
	tests := []struct {
		changed string
		want    []string
	}{
		{"overlays/prod/deployment-prod.yaml", []string{"prod"}},
		{"overlays/staging/replicas-json6902.yaml", []string{"staging"}},
		{"base/deployment.yaml", []string{"dev", "prod", "staging"}},
		{"base/config/app.properties", []string{"dev", "prod", "staging"}},
		{"components/monitoring/podmonitor.yaml", []string{"prod", "staging"}},
		{"crds/probes.monitoring.example.com.yaml", []string{"prod", "staging"}},
		{"overlays/prod/charts/cache/templates/service.yaml", []string{"prod"}},
		{"overlays/prod/charts/cache/templates/new-file.yaml", []string{"prod"}},
		{"overlays/prod/cache-values.yaml", []string{"prod"}},
		{"overlays/dev/kustomization.yml", []string{"dev"}},
		{"README.md", nil},
		// A closure is generous (render.Closure): a file of prod's own
		// directory that no kustomization names still reaches prod.
		{"overlays/prod/unreferenced.yaml", []string{"prod"}},
	}
	for _, tt := range tests {
		var got []string
		for i, c := range cls {
			if c.Touches(tt.changed) {
				got = append(got, envs[i].Name)
			}
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s reaches %v, want %v", tt.changed, got, tt.want)
		}
	}
}

func TestRenderCache(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, example, dir)
	cache, err := OpenCache(filepath.Join(t.TempDir(), "cache"), "test")
	if err != nil {
		t.Fatal(err)
	}
	open := func() *source.Dir {
		s, err := source.OpenDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	src := open()
	envs, _ := Discover(src, nil)
	sel, _ := SelectEnvs(envs, []string{"prod"})
	r := New(Options{Cache: cache})
	fresh := r.Render(context.Background(), src, sel[0])
	if fresh.Cached || len(fresh.Findings) > 0 {
		t.Fatalf("first render: cached=%v findings=%v", fresh.Cached, fresh.Findings)
	}
	again := r.Render(context.Background(), open(), sel[0])
	if !again.Cached {
		t.Fatal("second render of unchanged inputs was not a cache hit")
	}
	if asYAML(fresh) != asYAML(again) {
		t.Error("cached render differs from fresh render")
	}
	for i := range fresh.Resources {
		if !reflect.DeepEqual(fresh.Resources[i].Object, again.Resources[i].Object) {
			t.Errorf("%s: cached object differs (number types?)", fresh.Resources[i].ID)
		}
	}
	dep := find(t, again, "Deployment", "shop")
	if got := again.Locate(dep, strings.Split("spec.replicas", ".")); got.String() != "overlays/prod/deployment-prod.yaml:6" {
		t.Errorf("Locate after a cache hit: %s", got)
	}
	// Changing any dependency, even deep in a chart, misses the cache.
	p := filepath.Join(dir, "overlays/prod/charts/cache/values.yaml")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), "replicas: 1", "replicas: 4", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := r.Render(context.Background(), open(), sel[0])
	if changed.Cached {
		t.Fatal("a changed chart values file was served from the cache")
	}
	// Changing a file no render reads keeps the hit.
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !r.Render(context.Background(), open(), sel[0]).Cached {
		t.Error("an unrelated file change missed the cache")
	}
}
