package render

import (
	"context"
	"testing"

	"github.com/gate-ops/gate/checks/source"
)

// TestRenderAllMatchesRender: rendering every environment together (where
// work shared between environments may be reused) gives each one exactly
// what rendering it alone gives: objects, YAML, origins and locations.
func TestRenderAllMatchesRender(t *testing.T) {
	src, err := source.OpenDir("../../testdata/example", 0)
	if err != nil {
		t.Fatal(err)
	}
	envs, _ := Discover(src, nil)
	all := New(Options{}).RenderAll(context.Background(), src, envs)
	for i, env := range envs {
		one := New(Options{}).Render(context.Background(), src, env)
		a := all[i]
		if len(a.Resources) != len(one.Resources) || len(a.Findings) != len(one.Findings) {
			t.Fatalf("%s: RenderAll %d resources %v, Render %d resources %v", env.Name, len(a.Resources), a.Findings, len(one.Resources), one.Findings)
		}
		for j := range one.Resources {
			ra, ro := a.Resources[j], one.Resources[j]
			if ra.ID != ro.ID || ra.Origin != ro.Origin || string(ra.YAML) != string(ro.YAML) {
				t.Errorf("%s: RenderAll %v from %v, Render %v from %v", env.Name, ra.ID, ra.Origin, ro.ID, ro.Origin)
			}
			for _, p := range [][]string{{"spec", "replicas"}, {"metadata", "name"}, {"data"}} {
				if la, lo := a.Locate(ra, p), one.Locate(ro, p); la != lo {
					t.Errorf("%s %s %v: RenderAll locates %v, Render %v", env.Name, ra.ID, p, la, lo)
				}
			}
		}
	}
}
