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

func TestAffected(t *testing.T) {
	src, cfg := openExample(t)
	envs, _ := Discover(src, cfg)
	r := New(Options{})
	deps := map[string]Deps{}
	for _, e := range envs {
		deps[e.Name] = r.Deps(src, e)
	}
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
		{"overlays/prod/unreferenced.yaml", nil},
		{"gate.yaml", []string{"dev", "prod", "staging"}},
	}
	for _, tt := range tests {
		t.Run(tt.changed, func(t *testing.T) {
			aff := Affected(deps, []string{tt.changed}, func(p string) bool { return p == "gate.yaml" })
			var got []string
			for env, why := range aff {
				got = append(got, env)
				if len(why) != 1 || why[0] != tt.changed {
					t.Errorf("%s: because %v", env, why)
				}
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("affected %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDepsCoverReads: everything a render actually reads is in its scanned
// deps, so the cache and the incremental engine never miss a change.
func TestDepsCoverReads(t *testing.T) {
	src, cfg := openExample(t)
	envs, _ := Discover(src, cfg)
	r := New(Options{})
	for _, e := range envs {
		d := r.Deps(src, e)
		res := r.Render(context.Background(), src, e)
		for _, f := range res.Files {
			if !d.Touches(f) {
				t.Errorf("%s read %s, not in its deps", e.Name, f)
			}
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

// idSource is the example repo under a content ID, as a git commit's tree
// is; reads fail once broken is set.
type idSource struct {
	*source.Dir
	id     string
	broken bool
}

func (s *idSource) ContentID() string { return s.id }
func (s *idSource) ReadFile(name string) ([]byte, error) {
	if s.broken {
		return nil, os.ErrPermission
	}
	return s.Dir.ReadFile(name)
}

// The dependency index of a tree with a content ID is scanned once: a later
// run reads it back without reading the tree, and gets the same deps.
// Another ID, or no cache, scans.
func TestDepsIndexCache(t *testing.T) {
	src, cfg := openExample(t)
	envs, _ := Discover(src, cfg)
	want := New(Options{}).DepsAll(src, envs)
	cache, err := OpenCache(t.TempDir(), "test")
	if err != nil {
		t.Fatal(err)
	}
	r := New(Options{Cache: cache})
	s := &idSource{Dir: src, id: "tree-1"}
	if got := r.DepsAll(s, envs); !reflect.DeepEqual(got, want) {
		t.Fatalf("first scan with a cache differs:\n%+v\nwant\n%+v", got, want)
	}
	s.broken = true
	if got := r.DepsAll(s, envs); !reflect.DeepEqual(got, want) {
		t.Errorf("index read back differs:\n%+v\nwant\n%+v", got, want)
	}
	// Another tree: scanned (and the broken reads show in its deps).
	other := &idSource{Dir: src, id: "tree-2", broken: true}
	if got := r.DepsAll(other, envs); reflect.DeepEqual(got, want) {
		t.Error("a tree with another ID was served the first tree's index")
	}
	// Another selection of environments of the same tree: its own entry.
	if got := r.DepsAll(s, envs[:1]); len(got) != 1 || reflect.DeepEqual(got[0], want[0]) {
		t.Errorf("a different environment list was served a stored index: %+v", got)
	}
}
