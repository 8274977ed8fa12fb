package render

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

var update = flag.Bool("update", false, "rewrite golden files")

const example = "../../testdata/example"

func openExample(t testing.TB) (*source.Dir, *config.Config) {
	t.Helper()
	src, err := source.OpenDir(example, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	return src, cfg
}

func renderEnv(t testing.TB, src source.Source, cfg *config.Config, name string) *Result {
	t.Helper()
	envs, finds := Discover(src, cfg)
	if len(finds) > 0 {
		t.Fatalf("discover: %v", finds)
	}
	sel, err := SelectEnvs(envs, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	res := New(Options{}).Render(context.Background(), src, sel[0])
	if len(res.Findings) > 0 {
		t.Fatalf("render %s: %v", name, res.Findings)
	}
	return res
}

func asYAML(res *Result) string {
	var b strings.Builder
	for _, r := range res.Resources {
		fmt.Fprintf(&b, "---\n# Source: %s\n", r.Origin)
		b.Write(r.YAML)
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("..", "..", "testdata", "golden", "render", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./checks/render -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from golden file; rerun with -update after checking:\n%s", name, firstDiff(string(want), got))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, x, y)
		}
	}
	return ""
}

func TestRenderGolden(t *testing.T) {
	src, cfg := openExample(t)
	for _, env := range []string{"dev", "staging", "prod"} {
		t.Run(env, func(t *testing.T) {
			golden(t, env+".yaml", asYAML(renderEnv(t, src, cfg, env)))
		})
	}
}

// objectsByID parses multi-document YAML into id -> object.
func objectsByID(t testing.TB, docs [][]byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, d := range docs {
		var m map[string]any
		if err := sigsyaml.Unmarshal(d, &m); err != nil {
			t.Fatal(err)
		}
		if m == nil {
			continue
		}
		md, _ := m["metadata"].(map[string]any)
		id := fmt.Sprintf("%v/%v/%v/%v", m["apiVersion"], m["kind"], md["namespace"], md["name"])
		out[id] = m
	}
	return out
}

// kustomizeBuild runs kustomize the way `kustomize build` and `kubectl
// kustomize` do: krusty with default options over the real disk. When
// bin/kustomize (built by `make tools`) exists, the CLI itself is used too.
func kustomizeBuild(t *testing.T, dir string) [][]byte {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out [][]byte
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, y)
	}
	return out
}

func TestRenderMatchesKustomize(t *testing.T) {
	src, cfg := openExample(t)
	for _, env := range []string{"dev", "staging"} {
		t.Run(env, func(t *testing.T) {
			res := renderEnv(t, src, cfg, env)
			var got [][]byte
			for _, r := range res.Resources {
				got = append(got, r.YAML)
			}
			abs, _ := filepath.Abs(filepath.Join(example, "overlays", env))
			want := kustomizeBuild(t, abs)
			compareObjects(t, objectsByID(t, want), objectsByID(t, got))
		})
	}
	// prod inflates a chart with helmCharts, which kustomize can only do by
	// running a helm binary. Compare everything else against kustomize on a
	// copy without helmCharts, and the chart output against the golden file.
	t.Run("prod-without-chart", func(t *testing.T) {
		res := renderEnv(t, src, cfg, "prod")
		tmp := t.TempDir()
		copyTree(t, example, tmp)
		kf := filepath.Join(tmp, "overlays", "prod", "kustomization.yaml")
		b, _ := os.ReadFile(kf)
		s := string(b)
		s = s[:strings.Index(s, "helmCharts:")]
		if err := os.WriteFile(kf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		want := objectsByID(t, kustomizeBuild(t, filepath.Join(tmp, "overlays", "prod")))
		var got [][]byte
		for _, r := range res.Resources {
			if !strings.Contains(r.Origin.File, "/charts/") {
				got = append(got, r.YAML)
			}
		}
		compareObjects(t, want, objectsByID(t, got))
	})
}

func compareObjects(t *testing.T, want, got map[string]map[string]any) {
	t.Helper()
	var wk, gk []string
	for k := range want {
		wk = append(wk, k)
	}
	for k := range got {
		gk = append(gk, k)
	}
	sort.Strings(wk)
	sort.Strings(gk)
	if !reflect.DeepEqual(wk, gk) {
		t.Fatalf("object sets differ:\nkustomize: %v\ngate:      %v", wk, gk)
	}
	for _, k := range wk {
		wj, _ := sigsyaml.Marshal(want[k])
		gj, _ := sigsyaml.Marshal(got[k])
		if string(wj) != string(gj) {
			t.Errorf("%s differs:\nkustomize:\n%s\ngate:\n%s", k, wj, gj)
		}
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func find(t *testing.T, res *Result, kind, name string) *checks.Resource {
	t.Helper()
	for _, r := range res.Resources {
		if r.ID.Kind == kind && r.ID.Name == name {
			return r
		}
	}
	t.Fatalf("%s/%s not rendered in %s", kind, name, res.Env.Name)
	return nil
}

func TestOriginsAndLocate(t *testing.T) {
	src, cfg := openExample(t)
	results := map[string]*Result{}
	for _, e := range []string{"dev", "staging", "prod"} {
		results[e] = renderEnv(t, src, cfg, e)
	}
	tests := []struct {
		env, kind, name string
		path            string // dotted field path; "" checks the resource origin
		want            string
	}{
		{"prod", "Deployment", "shop", "", "base/deployment.yaml:1"},
		{"prod", "Deployment", "shop", "spec.replicas", "overlays/prod/deployment-prod.yaml:6"},
		{"prod", "Deployment", "shop", "spec.template.spec.containers.0.resources.limits.memory", "overlays/prod/deployment-prod.yaml:14"},
		{"prod", "Deployment", "shop", "spec.template.spec.containers.0.image", "base/deployment.yaml:20"},
		{"prod", "Service", "shop", "", "base/service.yaml:1"},
		{"prod", "Service", "shop", "metadata.annotations", "overlays/prod/kustomization.yaml:19"},
		{"prod", "Deployment", "shop-cache", "", "overlays/prod/charts/cache/templates/deployment.yaml:2"},
		{"prod", "Probe", "shop-probe", "spec.intervalSeconds", "components/monitoring/podmonitor.yaml:7"},
		{"staging", "Deployment", "staging-shop", "spec.replicas", "overlays/staging/replicas-json6902.yaml:2"},
		{"staging", "Deployment", "staging-shop", "spec.template.spec.securityContext", "base/deployment.yaml:16"},
		{"dev", "ConfigMap", "", "", "base/kustomization.yaml:13"},
	}
	for _, tt := range tests {
		t.Run(tt.env+"/"+tt.kind+"/"+tt.name+"/"+tt.path, func(t *testing.T) {
			res := results[tt.env]
			var r *checks.Resource
			if tt.name == "" {
				for _, x := range res.Resources {
					if x.ID.Kind == tt.kind {
						r = x
					}
				}
			} else {
				r = find(t, res, tt.kind, tt.name)
			}
			got := r.Origin
			if tt.path != "" {
				got = res.Locate(r, strings.Split(tt.path, "."))
			}
			if got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRenderedFilesAreRecorded(t *testing.T) {
	src, cfg := openExample(t)
	res := renderEnv(t, src, cfg, "prod")
	for _, want := range []string{"base/config/app.properties", "base/deployment.yaml", "overlays/prod/deployment-prod.yaml", "overlays/prod/cache-values.yaml", "overlays/prod/charts/cache/templates/deployment.yaml", "components/monitoring/podmonitor.yaml"} {
		if !contains(res.Files, want) {
			t.Errorf("%s not recorded as read by prod: %v", want, res.Files)
		}
	}
	for _, f := range res.Files {
		if strings.Contains(f, "overlays/dev") || strings.Contains(f, virtualPrefix) {
			t.Errorf("prod render recorded %s", f)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestDiscoverLeafOverlays(t *testing.T) {
	src, _ := openExample(t)
	envs, finds := Discover(src, nil) // as if there were no gate.yaml
	if len(finds) > 0 {
		t.Fatal(finds)
	}
	var got []string
	for _, e := range envs {
		got = append(got, e.Name+"="+e.Path)
		if !strings.Contains(e.Reason, "not used as a base") {
			t.Errorf("%s: reason %q", e.Name, e.Reason)
		}
	}
	want := []string{"dev=overlays/dev", "prod=overlays/prod", "staging=overlays/staging"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestDiscoverConventionalLayouts(t *testing.T) {
	src := source.NewMem("test", map[string]string{
		"envs/plain-a/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"envs/chart-b/Chart.yaml":         "apiVersion: v2\nname: b\nversion: 0.1.0\n",
		"envs/chart-b/templates/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
		"clusters/eu/kustomization.yaml":  "resources:\n  - ../../apps/base\n",
		"apps/base/kustomization.yaml":    "resources:\n  - cm.yaml\n",
		"apps/base/cm.yaml":               "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
		"components/x/kustomization.yaml": "kind: Component\n",
		"envs/empty/README.md":            "nothing here",
	})
	envs, finds := Discover(src, nil)
	if len(finds) > 0 {
		t.Fatal(finds)
	}
	got := map[string]string{}
	for _, e := range envs {
		got[e.Path] = e.Kind
	}
	want := map[string]string{"envs/plain-a": KindPlain, "envs/chart-b": KindHelm, "clusters/eu": KindKustomize}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	r := New(Options{})
	for _, e := range envs {
		res := r.Render(context.Background(), src, e)
		if len(res.Findings) > 0 || len(res.Resources) != 1 {
			t.Errorf("%s: %d resources, findings %v", e.Name, len(res.Resources), res.Findings)
		}
	}
}

func TestBrokenInput(t *testing.T) {
	tests := []struct {
		dir, env string
		rule     string
		origin   string
		msg      string
	}{
		{"remote-base", ".", "render/remote-base", "kustomization.yaml:3", "remote reference"},
		{"remote-git-ssh", ".", "render/remote-base", "kustomization.yaml:2", "git@github.com"},
		{"remote-bare", ".", "render/remote-base", "kustomization.yaml:2", "github.com/example"},
		{"escape-path", ".", "render/path-escape", "kustomization.yaml:2", "leaves the repo root"},
		{"absolute-path", ".", "render/path-escape", "kustomization.yaml:2", "absolute path"},
		{"symlink-escape", ".", "render/path-escape", "kustomization.yaml:2", `symlink to "/etc/passwd" leaves the repo root`},
		{"malformed", ".", "render/invalid-yaml", "kustomization.yaml:3", "invalid YAML"},
		{"invalid-yaml", ".", "render/invalid-yaml", "bad.yaml:6", "invalid YAML"},
		{"duplicate-key", ".", "render/invalid-yaml", "cm.yaml:7", `duplicate key "a"`},
		{"cycle", "a", "render/cycle", "b/kustomization.yaml:2", "a -> b -> a"},
		{"exec-function", ".", "render/exec-function", "kustomization.yaml:4", "refused"},
		{"missing-resource", ".", "render/missing-file", "kustomization.yaml:3", "does-not-exist.yaml"},
		{"alias-bomb", ".", "render/limit", "bomb.yaml:", "max-nodes"},
		{"helm-remote-chart", ".", "render/chart-not-cached", "kustomization.yaml:2", "not vendored"},
		{"secret-literal", ".", "render/kustomize", "kustomization.yaml:6", "invalid literal source [redacted]"},
		{"duplicate-resource", ".", "render/kustomize", "kustomization.yaml:2", "already registered id"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			src, err := source.OpenDir(filepath.Join("..", "..", "testdata", "broken", tt.dir), 0)
			if err != nil {
				t.Fatal(err)
			}
			res := New(Options{}).Render(context.Background(), src, checks.Env{Name: "x", Path: tt.env, Kind: KindKustomize})
			if len(res.Findings) != 1 {
				t.Fatalf("want one finding, got %v", res.Findings)
			}
			f := res.Findings[0]
			if f.RuleID != tt.rule || !strings.HasPrefix(f.Origin.String(), tt.origin) || !strings.Contains(f.Message, tt.msg) || f.Severity != checks.SeverityError {
				t.Errorf("got %s\nwant rule %s at %s containing %q", f, tt.rule, tt.origin, tt.msg)
			}
			if len(res.Resources) != 0 {
				t.Errorf("a failed render returned %d resources", len(res.Resources))
			}
			if strings.Contains(f.Message, "CANARY") {
				t.Errorf("finding leaks a secret value: %s", f.Message)
			}
		})
	}
}

// TestParallelRenderRace renders many environments at once; run with -race.
func TestParallelRenderRace(t *testing.T) {
	src := syntheticRepo(12)
	envs, _ := Discover(src, nil)
	if len(envs) != 12 {
		t.Fatalf("want 12 envs, got %d", len(envs))
	}
	results := New(Options{Parallelism: 4}).RenderAll(context.Background(), src, envs)
	for _, r := range results {
		if len(r.Findings) > 0 || len(r.Resources) != 4 {
			t.Fatalf("%s: %d resources, %v", r.Env.Name, len(r.Resources), r.Findings)
		}
	}
}

// syntheticRepo is n overlays over one base, each with a patch and generator.
func syntheticRepo(n int) *source.Mem {
	files := map[string]string{
		"base/kustomization.yaml": "resources:\n  - deploy.yaml\n  - svc.yaml\nconfigMapGenerator:\n  - name: cfg\n    literals: [A=1]\n",
		"base/deploy.yaml":        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: x}\n  template:\n    metadata:\n      labels: {app: x}\n    spec:\n      containers:\n        - name: app\n          image: example/app:1.0.0\n",
		"base/svc.yaml":           "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\nspec:\n  selector: {app: x}\n  ports: [{port: 80}]\n",
	}
	for i := 0; i < n; i++ {
		d := fmt.Sprintf("overlays/env%02d", i)
		files[d+"/kustomization.yaml"] = fmt.Sprintf("namespace: ns%d\nnamePrefix: e%d-\nresources:\n  - ../../base\n  - extra.yaml\npatches:\n  - path: patch.yaml\n", i, i)
		files[d+"/patch.yaml"] = fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: %d\n", i%5+1)
		files[d+"/extra.yaml"] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  env: \"%d\"\n", i)
	}
	return source.NewMem("synthetic", files)
}

// BenchmarkRenderAll shows the renderer uses every core: compare
// parallelism=1 with parallelism=GOMAXPROCS (ns/op should drop by ~the core count).
func BenchmarkRenderAll(b *testing.B) {
	src := syntheticRepo(32)
	envs, _ := Discover(src, nil)
	for _, p := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("parallelism=%d", p), func(b *testing.B) {
			r := New(Options{Parallelism: p})
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
	}
}

func TestRenderDeadline(t *testing.T) {
	src := source.NewMem("test", map[string]string{
		"envs/loop/Chart.yaml":              "apiVersion: v2\nname: loop\nversion: 0.1.0\n",
		"envs/loop/templates/cm.yaml":       "{{- range $i := until 1000000 }}{{- range $j := until 1000000 }}x{{ end }}{{ end }}\n",
		"app/kustomization.yaml":            "helmCharts:\n  - name: loop\n",
		"app/charts/loop/Chart.yaml":        "apiVersion: v2\nname: loop\nversion: 0.1.0\n",
		"app/charts/loop/templates/a.tp":    "x",
		"app/charts/loop/templates/cm.yaml": "{{- range $i := until 1000000 }}{{- range $j := until 1000000 }}x{{ end }}{{ end }}\n",
	})
	r := New(Options{Timeout: 300 * time.Millisecond})
	for _, env := range []checks.Env{{Name: "helm", Path: "envs/loop", Kind: KindHelm}, {Name: "kust", Path: "app", Kind: KindKustomize}} {
		res := r.Render(context.Background(), src, env)
		if len(res.Findings) != 1 || res.Findings[0].RuleID != "render/timeout" || !strings.Contains(res.Findings[0].Message, "--render-timeout") {
			t.Errorf("%s: want one render/timeout finding naming the flag, got %v", env.Name, res.Findings)
		}
		if res.Duration > 5*time.Second {
			t.Errorf("%s: render took %s past a 300ms deadline", env.Name, res.Duration)
		}
	}
}

// TestKustomizeErrorBlame: a kustomize error lands on the kustomization
// whose own build fails (bases built alone first), on the field the error
// names, never on a base only because its text appears in the message.
func TestKustomizeErrorBlame(t *testing.T) {
	const base = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - cm.yaml\n"
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n"
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"string under an overlay's images", map[string]string{
			"base/kustomization.yaml": base, "base/cm.yaml": cm,
			"env/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base\nimages:\n  - ghcr.io/example/shop:latest\n",
		}, "env/kustomization.yaml:5"},
		{"string under a base's replicas", map[string]string{
			"base/kustomization.yaml": base + "replicas: three\n", "base/cm.yaml": cm,
			"env/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base\nnamespace: shop\n",
		}, "base/kustomization.yaml:5"},
		{"an overlay's patch on an object the base does not have", map[string]string{
			"base/kustomization.yaml": base, "base/cm.yaml": cm,
			"env/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base\npatches:\n  - path: missing-patch.yaml\n",
			"env/missing-patch.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nothere\ndata:\n  a: c\n",
		}, "env/kustomization.yaml:6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := source.NewMem("test", tt.files)
			res := New(Options{}).Render(context.Background(), src, checks.Env{Name: "env", Path: "env", Kind: KindKustomize})
			if len(res.Findings) != 1 {
				t.Fatalf("findings = %v, want one", res.Findings)
			}
			f := res.Findings[0]
			if f.RuleID != "render/kustomize" || !strings.HasPrefix(f.Origin.String(), tt.want) {
				t.Errorf("finding %s, want it on %s", f, tt.want)
			}
		})
	}
}

// TestAbsentFieldLandsOnItsAncestorsWriter: a field the rendered object
// lacks (a finding asking for it) lands, marked approximate, where its
// nearest present ancestor was last set: a container an overlay's patch
// added lands on the patch, not on the base's containers: line, a file the
// pull request never touched.
func TestAbsentFieldLandsOnItsAncestorsWriter(t *testing.T) {
	files := map[string]string{
		"base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
		"base/deployment.yaml":    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: app:1\n",
		"env/kustomization.yaml":  "resources:\n  - ../base\npatches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        name: app\n      spec:\n        template:\n          spec:\n            containers:\n              - name: extra\n                image: extra:1\n",
	}
	res := New(Options{}).Render(context.Background(), source.NewMem("test", files), checks.Env{Name: "env", Path: "env", Kind: KindKustomize})
	if len(res.Findings) > 0 {
		t.Fatal(res.Findings)
	}
	r := find(t, res, "Deployment", "app")
	// containers[i]: the index kustomize's merge gave each container.
	idx := map[string]string{}
	for i, x := range r.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any) {
		idx[x.(map[string]any)["name"].(string)] = strconv.Itoa(i)
	}
	for _, tt := range []struct {
		container, rest, want string
		approx                bool
	}{
		{"extra", "name", "env/kustomization.yaml:13", false},
		{"extra", "resources", "env/kustomization.yaml:13", true},
		{"extra", "securityContext.privileged", "env/kustomization.yaml:13", true},
		{"app", "resources", "base/deployment.yaml:9", true},
		{"", "hostNetwork", "base/deployment.yaml:7", true},
	} {
		p := []string{"spec", "template", "spec"}
		if tt.container != "" {
			p = append(p, "containers", idx[tt.container])
		}
		p = append(p, strings.Split(tt.rest, ".")...)
		got := res.Locate(r, p)
		if got.String() != tt.want || got.Approximate != tt.approx {
			t.Errorf("%s: got %s (approximate %v), want %s (approximate %v)", strings.Join(p, "."), got, got.Approximate, tt.want, tt.approx)
		}
	}
}
