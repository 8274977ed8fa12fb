package render

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/corpus"
)

// parityRepos are the repos whose every kustomization must render as the
// kustomize CLI builds it: the Flux example of the shared corpus, the
// Argo CD fixture (after argocd-example-apps; cluster-addons/logging holds
// the block scalars kustomize's writer changes), the Flux fleet fixture
// and the kustomize example.
func parityRepos(t *testing.T) []string {
	repos := []string{"../../testdata/argocd", "../../testdata/flux/fleet", "../../testdata/example"}
	if c := corpus.SharedDir("../..", "flux2-kustomize-helm-example"); c != "" {
		repos = append(repos, c)
	} else {
		t.Log("../shared/corpus/flux2-kustomize-helm-example not present: parity checked on the fixtures only")
	}
	return repos
}

// kustomizeCLIs are the real tools to compare with: the kustomize CLI of
// the version gate links (GATE_KUSTOMIZE_BIN, or bin/kustomize from make
// tools) and `kubectl kustomize` when kubectl is installed (GATE_KUBECTL_BIN
// or PATH).
func kustomizeCLIs(t *testing.T) map[string][]string {
	clis := optionalKustomizeCLIs()
	if len(clis) == 0 {
		t.Skip("no kustomize CLI (make tools builds bin/kustomize; make test sets GATE_KUSTOMIZE_BIN) and no kubectl")
	}
	return clis
}

func optionalKustomizeCLIs() map[string][]string {
	clis := map[string][]string{}
	bin := os.Getenv("GATE_KUSTOMIZE_BIN")
	if bin == "" {
		bin, _ = filepath.Abs("../../bin/kustomize")
	}
	if _, err := os.Stat(bin); err == nil {
		clis["kustomize"] = []string{bin, "build"}
	}
	kubectl := os.Getenv("GATE_KUBECTL_BIN")
	if kubectl == "" {
		kubectl, _ = exec.LookPath("kubectl")
	}
	if kubectl != "" {
		clis["kubectl kustomize"] = []string{kubectl, "kustomize"}
	}
	return clis
}

// TestKustomizeParityEveryKustomization: every kustomization of the repos
// above (bases, overlays, Flux paths, the directories Argo CD
// Applications name; components and helmCharts aside), rendered by gate as
// an environment, gives the objects the kustomize CLI and kubectl
// kustomize print, every value byte for byte as those tools write it
// (block scalars included: what Argo CD and Flux apply).
func TestKustomizeParityEveryKustomization(t *testing.T) {
	clis := kustomizeCLIs(t)
	var names []string
	for n := range clis {
		names = append(names, n)
	}
	sort.Strings(names)
	built := 0
	for _, repo := range parityRepos(t) {
		src, err := source.OpenDir(repo, 0)
		if err != nil {
			t.Fatal(err)
		}
		var dirs []string
		err = filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch d.Name() {
			case "kustomization.yaml", "kustomization.yml", "Kustomization":
			default:
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			switch {
			case strings.Contains(string(b), "kind: Component"):
				return nil // not buildable alone; built with what includes it
			case strings.Contains(string(b), "helmCharts:"):
				// Not compared: kustomize 5.8 leaves the namespace transformer
				// off objects helmCharts inflates when the chart's templates
				// name none (kubernetes-sigs/kustomize#6058, open); gate sets
				// it, as kustomize up to 5.7 (and kubectl's) did.
				return nil
			}
			rel, _ := filepath.Rel(repo, filepath.Dir(p))
			dirs = append(dirs, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range dirs {
			t.Run(filepath.Base(repo)+"/"+dir, func(t *testing.T) {
				res := New(Options{}).Render(context.Background(), src, checks.Env{Name: "parity", Kind: KindKustomize, Path: dir})
				for _, f := range res.Findings {
					t.Errorf("finding: %s", f)
				}
				var got [][]byte
				for _, r := range res.Resources {
					got = append(got, r.YAML)
				}
				for _, name := range names {
					cmd := clis[name]
					out, err := exec.Command(cmd[0], append(cmd[1:], filepath.Join(repo, dir))...).Output()
					if err != nil {
						t.Fatalf("%s %s: %v", name, dir, err)
					}
					var want [][]byte
					for _, d := range strings.Split(string(out), "\n---\n") {
						if strings.TrimSpace(d) != "" {
							want = append(want, []byte(d))
						}
					}
					t.Logf("%s: %d objects", name, len(want))
					compareObjects(t, objectsByID(t, want), objectsByID(t, got))
				}
			})
			built++
		}
	}
	if built < 11 {
		t.Errorf("%d kustomizations compared, want the 11 or more of the fixtures", built)
	}
}

// TestSharedSubtreeKeepsKustomizeScalars: a base shared by several
// environments (built once and handed on as text, memo.go) whose objects
// hold a scalar kustomize's writer changes renders for each environment
// what rendering it alone, and the kustomize CLI, give: written once, not
// twice.
func TestSharedSubtreeKeepsKustomizeScalars(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"base/kustomization.yaml":   "resources:\n- cm.yaml\n- deploy.yaml\npatches:\n- path: patch.yaml\n",
		"base/patch.yaml":           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  patched: >\n    a\n      b\n",
		"base/cm.yaml":              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  script: >\n    run\n      --fast\n    done\n  kept: |+\n    tail\n\n\n  plain: x\n",
		"base/deploy.yaml":          "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n",
		"envs/a/kustomization.yaml": "resources:\n- ../../base\nnamespace: a\n",
		"envs/b/kustomization.yaml": "resources:\n- ../../base\nnamespace: b\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := source.OpenDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	envs := []checks.Env{{Name: "a", Kind: KindKustomize, Path: "envs/a"}, {Name: "b", Kind: KindKustomize, Path: "envs/b"}}
	all := New(Options{}).RenderAll(context.Background(), src, envs)
	for i, env := range envs {
		one := New(Options{}).Render(context.Background(), src, env)
		if len(all[i].Resources) != len(one.Resources) || len(one.Resources) != 2 {
			t.Fatalf("%s: RenderAll %d objects %v, Render %d %v", env.Name, len(all[i].Resources), all[i].Findings, len(one.Resources), one.Findings)
		}
		for j, r := range one.Resources {
			if string(all[i].Resources[j].YAML) != string(r.YAML) {
				t.Errorf("%s: RenderAll\n%s\nRender\n%s", env.Name, all[i].Resources[j].YAML, r.YAML)
			}
		}
		var cm map[string]any
		for _, r := range one.Resources {
			if r.ID.Kind == "ConfigMap" {
				cm, _ = r.Object["data"].(map[string]any)
			}
		}
		// kustomize v5.8.1 and kubectl v1.32 print these values.
		if cm["script"] != "run\n\n  --fast\ndone\n" || cm["kept"] != "tail\n\n\n" || cm["patched"] != "a\n\n  b\n" {
			t.Errorf("%s: ConfigMap data %q, want what kustomize build prints", env.Name, cm)
		}
	}
	for name, cmd := range optionalKustomizeCLIs() {
		for _, env := range envs {
			out, err := exec.Command(cmd[0], append(cmd[1:], filepath.Join(dir, env.Path))...).Output()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var want [][]byte
			for _, d := range strings.Split(string(out), "\n---\n") {
				want = append(want, []byte(d))
			}
			var got [][]byte
			for _, r := range New(Options{}).Render(context.Background(), src, env).Resources {
				got = append(got, r.YAML)
			}
			compareObjects(t, objectsByID(t, want), objectsByID(t, got))
		}
	}
}
