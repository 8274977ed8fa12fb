package render

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// sameAsAlone renders every environment of src with RenderAll (which
// shares subtrees) and each one alone with Render (which never does), and
// fails on any difference a user could see: objects, bytes, origins,
// patches, files read, findings, located lines.
func sameAsAlone(t *testing.T, src source.Source, cfg *config.Config) []*Result {
	t.Helper()
	envs, finds := Discover(src, cfg)
	if len(finds) > 0 {
		t.Fatalf("discover: %v", finds)
	}
	r := New(Options{})
	all := r.RenderAll(context.Background(), src, envs)
	for i, env := range envs {
		alone := New(Options{}).Render(context.Background(), src, env)
		got, want := all[i], alone
		if !reflect.DeepEqual(got.Findings, want.Findings) {
			t.Errorf("%s: findings differ:\nshared: %v\nalone:  %v", env.Name, got.Findings, want.Findings)
		}
		if !reflect.DeepEqual(got.Files, want.Files) {
			t.Errorf("%s: files read differ:\nshared: %v\nalone:  %v", env.Name, got.Files, want.Files)
		}
		if len(got.Resources) != len(want.Resources) {
			t.Errorf("%s: %d objects shared, %d alone", env.Name, len(got.Resources), len(want.Resources))
			continue
		}
		for j := range got.Resources {
			g, w := got.Resources[j], want.Resources[j]
			if string(g.YAML) != string(w.YAML) || g.ID != w.ID {
				t.Errorf("%s: object %d differs:\nshared:\n%s\nalone:\n%s", env.Name, j, g.YAML, w.YAML)
				continue
			}
			if g.Origin != w.Origin || !reflect.DeepEqual(g.Patches, w.Patches) {
				t.Errorf("%s: %s: origin %v %v shared, %v %v alone", env.Name, g.ID, g.Origin, g.Patches, w.Origin, w.Patches)
			}
			for _, p := range [][]string{{"spec", "replicas"}, {"spec", "template", "spec", "containers", "0", "image"}, {"metadata", "name"}} {
				if a, b := got.Locate(g, p), want.Locate(w, p); a != b {
					t.Errorf("%s: %s: Locate(%s) = %v shared, %v alone", env.Name, g.ID, p, a, b)
				}
			}
		}
	}
	return all
}

func TestRenderAllSharesSubtreesExample(t *testing.T) {
	src, cfg := openExample(t)
	sameAsAlone(t, src, cfg)
}

// memoRepo is a small catalog repo: two apps (base + overlay with a
// generator merge), environments over them; extra files are merged in.
func memoRepo(extra map[string]string) *source.Mem {
	files := map[string]string{
		"gate.yaml": "apiVersion: gate/v1\nenvironments:\n  - name: a\n    path: envs/a\n  - name: b\n    path: envs/b\n",
	}
	for _, app := range []string{"web", "api"} {
		files["apps/"+app+"/base/kustomization.yaml"] = "resources:\n  - deployment.yaml\nconfigMapGenerator:\n  - name: " + app + "-config\n    literals: [A=1]\n"
		files["apps/"+app+"/base/deployment.yaml"] = fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers:
        - name: main
          image: registry.example/%[1]s:1.0
          envFrom:
            - configMapRef: {name: %[1]s-config}
            - configMapRef: {name: env-settings}
`, app)
		files["apps/"+app+"/overlay/kustomization.yaml"] = "resources:\n  - ../base\ncommonAnnotations:\n  tier: x\nconfigMapGenerator:\n  - name: " + app + "-config\n    behavior: merge\n    literals: [B=2]\npatches:\n  - path: replicas.yaml\n"
		files["apps/"+app+"/overlay/replicas.yaml"] = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + app + "\nspec:\n  replicas: 2\n"
	}
	for _, env := range []string{"a", "b"} {
		files["envs/"+env+"/kustomization.yaml"] = "namespace: " + env + "\nlabels:\n  - pairs: {env: " + env + "}\nresources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\nconfigMapGenerator:\n  - name: env-settings\n    literals: [ENV=" + env + "]\npatches:\n  - target: {kind: Deployment, name: web}\n    patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: 3\n"
	}
	for k, v := range extra {
		if v == "" {
			delete(files, k)
			continue
		}
		files[k] = v
	}
	return source.NewMem("test", files)
}

func TestRenderAllSharesSubtrees(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra map[string]string
		// shared says whether env a should take the apps from the memo.
		shared bool
	}{
		{name: "catalog", shared: true},
		{name: "prefix above the subtree", extra: map[string]string{
			"envs/a/kustomization.yaml": "namePrefix: p-\nresources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\n"}},
		{name: "patch on a ConfigMap above the subtree", extra: map[string]string{
			"envs/a/kustomization.yaml": "resources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\npatches:\n  - target: {kind: ConfigMap}\n    patch: |-\n      - op: add\n        path: /data/C\n        value: \"3\"\n"}},
		{name: "merge into a subtree's generator", extra: map[string]string{
			"envs/a/kustomization.yaml": "resources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\nconfigMapGenerator:\n  - name: web-config\n    behavior: merge\n    literals: [C=3]\n"}},
		{name: "reference into a sibling's generated name", shared: true, extra: map[string]string{
			// api's Deployment names web's generated ConfigMap: only a
			// whole build rewrites it to the hashed name.
			"apps/api/base/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers:\n        - name: main\n          image: api:1\n          envFrom:\n            - configMapRef: {name: web-config}\n"}},
		{name: "vars in a subtree", extra: map[string]string{
			"apps/web/overlay/kustomization.yaml": "resources:\n  - ../base\nvars:\n  - name: WEB\n    objref: {kind: Deployment, name: web, apiVersion: apps/v1}\n"}},
		{name: "a subtree that does not build", extra: map[string]string{
			"apps/api/base/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"}},
		{name: "an object both in a subtree and above it", shared: true, extra: map[string]string{
			"envs/a/kustomization.yaml": "resources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\n  - dup.yaml\n",
			"envs/a/dup.yaml":           "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"}},
		{name: "strategic merge patch file above", shared: true, extra: map[string]string{
			"envs/a/kustomization.yaml": "resources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\nconfigMapGenerator:\n  - name: env-settings\n    literals: [ENV=a]\npatches:\n  - path: web.yaml\n",
			"envs/a/web.yaml":           "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 5\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := memoRepo(tc.extra)
			cfg, _, err := config.Load(src, "")
			if err != nil {
				t.Fatal(err)
			}
			sameAsAlone(t, src, cfg)
			// Whether the plan shares is what makes it fast; check it
			// decides as documented.
			envs, _ := Discover(src, cfg)
			r := New(Options{})
			m := newMemo(r, src)
			g, err := r.scanGraphWith(src, envs[0].Path, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := m.plan(context.Background(), src, g, envs[0].Path, newDocCache(r.opts.Limits))
			if got := p != nil; got != tc.shared {
				t.Errorf("env %s shares subtrees: %v, want %v", envs[0].Name, got, tc.shared)
			}
		})
	}
}

// TestRenderAllFallsBackOnStaleName checks the check made after a shared
// build: a name a subtree's generator hashed, still in the output.
func TestRenderAllFallsBackOnStaleName(t *testing.T) {
	p := &memoPlan{renamed: map[string]bool{"web-config": true}}
	obj := map[string]any{"spec": map[string]any{"x": []any{map[string]any{"name": "web-config"}}}}
	if !p.stale(obj) {
		t.Error("a rendered value naming web-config was not seen")
	}
	if p.stale(map[string]any{"web-config": "key, not value"}) {
		t.Error("a key was taken for a reference")
	}
	if got := (*memoPlan)(nil).outside([]string{"x"}); len(got) != 1 {
		t.Errorf("a nil plan must keep every directory, kept %v", got)
	}
}

// catalogRepo is memoRepo's shape at scale: envs environments, each over
// apps app overlays out of a catalog of apps+apps/2.
func catalogRepo(envs, apps int) *source.Mem {
	return source.NewMem("catalog", catalogFiles(envs, apps))
}

func catalogFiles(envs, apps int) map[string]string {
	files := map[string]string{}
	var gate strings.Builder
	gate.WriteString("apiVersion: gate/v1\nenvironments:\n")
	catalog := apps + apps/2
	for a := 0; a < catalog; a++ {
		name := fmt.Sprintf("app%02d", a)
		files["apps/"+name+"/base/kustomization.yaml"] = "labels:\n  - pairs: {app: " + name + "}\n    includeSelectors: true\nresources:\n  - deployment.yaml\n  - service.yaml\nconfigMapGenerator:\n  - name: " + name + "-config\n    literals: [A=1]\n"
		files["apps/"+name+"/base/deployment.yaml"] = fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %[1]s\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: main\n          image: registry.example/%[1]s:1.0\n          envFrom:\n            - configMapRef: {name: %[1]s-config}\n            - configMapRef: {name: env-settings}\n", name)
		files["apps/"+name+"/base/service.yaml"] = "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  ports:\n    - port: 80\n"
		files["apps/"+name+"/overlay/kustomization.yaml"] = "resources:\n  - ../base\ncommonAnnotations:\n  tier: x\npatches:\n  - target: {kind: Deployment}\n    patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: 2\n"
	}
	for e := 0; e < envs; e++ {
		name := fmt.Sprintf("env%02d", e)
		fmt.Fprintf(&gate, "  - name: %s\n    path: envs/%s\n", name, name)
		var k strings.Builder
		fmt.Fprintf(&k, "namespace: %s\nresources:\n", name)
		for a := 0; a < apps; a++ {
			fmt.Fprintf(&k, "  - ../../apps/app%02d/overlay\n", (e+a)%catalog)
		}
		fmt.Fprintf(&k, "configMapGenerator:\n  - name: env-settings\n    literals: [ENV=%s]\n", name)
		files["envs/"+name+"/kustomization.yaml"] = k.String()
	}
	files["gate.yaml"] = gate.String()
	return files
}

// BenchmarkRenderCatalog compares one run over environments that share
// app overlays (RenderAll builds each overlay once) with rendering each
// environment alone, both on one core.
func BenchmarkRenderCatalog(b *testing.B) {
	src := catalogRepo(16, 12)
	cfg, _, err := config.Load(src, "")
	if err != nil {
		b.Fatal(err)
	}
	envs, _ := Discover(src, cfg)
	r := New(Options{Parallelism: 1})
	benchSharedVsAlone(b, r, src, envs)
}

// benchSharedVsAlone measures RenderAll (shared subtrees) against
// rendering each environment alone, both on r.
func benchSharedVsAlone(b *testing.B, r *Renderer, src source.Source, envs []checks.Env) {
	b.Run("shared", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, res := range r.RenderAll(context.Background(), src, envs) {
				if len(res.Findings) > 0 {
					b.Fatal(res.Findings)
				}
			}
		}
		b.ReportMetric(float64(len(envs)), "envs/op")
	})
	b.Run("alone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, env := range envs {
				if res := r.Render(context.Background(), src, env); len(res.Findings) > 0 {
					b.Fatal(res.Findings)
				}
			}
		}
		b.ReportMetric(float64(len(envs)), "envs/op")
	})
}

func TestRenderAllSharesSubtreesCatalog(t *testing.T) {
	src := catalogRepo(4, 3)
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range sameAsAlone(t, src, cfg) {
		if len(res.Resources) != 3*3+1 {
			t.Errorf("%s: %d objects, want 10", res.Env.Name, len(res.Resources))
		}
	}
}
