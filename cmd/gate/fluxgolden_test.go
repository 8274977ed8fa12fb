package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/internal/testing/chartrepo"
)

// helmBin is the real Helm CLI, built from the Go module gate pins (`make
// tools` builds bin/helm; `make test` passes GATE_HELM_BIN). Outside make
// test a missing binary skips, saying how to get it; inside, it fails.
func helmBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("GATE_HELM_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("GATE_HELM_BIN=%s: %v", bin, err)
		}
		return bin
	}
	bin, _ := filepath.Abs("../../bin/helm")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no helm binary to compare against: run `make tools` (builds bin/helm from helm.sh/helm/v4/cmd/helm at go.mod's version) or set GATE_HELM_BIN")
	}
	return bin
}

// kustomizeCLI builds dir with the kustomize CLI (GATE_KUSTOMIZE_BIN or
// bin/kustomize), else with krusty as `kustomize build` does.
func kustomizeCLI(t *testing.T, dir string) []byte {
	t.Helper()
	bin := os.Getenv("GATE_KUSTOMIZE_BIN")
	if bin == "" {
		bin, _ = filepath.Abs("../../bin/kustomize")
	}
	if _, err := os.Stat(bin); err == nil {
		out, err := exec.Command(bin, "build", dir).Output()
		if err != nil {
			t.Fatalf("%s build %s: %v", bin, dir, err)
		}
		return out
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// yamlObjects parses a multi-document YAML stream into objects keyed by
// apiVersion/kind/namespace/name; a key seen twice fails the test.
func yamlObjects(t *testing.T, what string, stream []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, d := range strings.Split("\n"+string(stream), "\n---") {
		var m map[string]any
		if err := sigsyaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, d)
		}
		if m == nil {
			continue
		}
		md, _ := m["metadata"].(map[string]any)
		id := fmt.Sprintf("%v/%v/%v/%v", m["apiVersion"], m["kind"], md["namespace"], md["name"])
		if _, dup := out[id]; dup {
			t.Fatalf("%s: %s twice", what, id)
		}
		out[id] = m
	}
	return out
}

// helmTemplate renders one Flux HelmRelease (taken from kustomize build's
// output) with the Helm CLI as helm-controller would install it: release
// name and namespace as helm-controller derives them, spec.values as the
// values file, CRDs unless install.crds is Skip, chart and version from the
// repository the HelmRelease names (here its loopback stand-in).
func helmTemplate(t *testing.T, helm string, hr map[string]any, objs map[string]map[string]any, mirror map[string]string, version map[string]string) []byte {
	t.Helper()
	md := hr["metadata"].(map[string]any)
	spec := hr["spec"].(map[string]any)
	name, ns := md["name"].(string), md["namespace"].(string)
	for _, unsupported := range []string{"valuesFrom", "postRenderers"} {
		if spec[unsupported] != nil {
			t.Fatalf("HelmRelease %s/%s has %s: this golden test passes spec.values only", ns, name, unsupported)
		}
	}
	rel := name
	target := ns
	if tn, _ := spec["targetNamespace"].(string); tn != "" {
		rel, target = tn+"-"+name, tn
	}
	if rn, _ := spec["releaseName"].(string); rn != "" {
		rel = rn
	}
	var chartArgs []string
	switch {
	case spec["chartRef"] != nil:
		ref := spec["chartRef"].(map[string]any)
		if ref["kind"] != "OCIRepository" {
			t.Fatalf("HelmRelease %s/%s: chartRef kind %v", ns, name, ref["kind"])
		}
		src := objs[fmt.Sprintf("source.toolkit.fluxcd.io/v1/OCIRepository/%s/%s", ns, ref["name"])]
		if src == nil {
			t.Fatalf("HelmRelease %s/%s: OCIRepository %v not in the build", ns, name, ref["name"])
		}
		url := src["spec"].(map[string]any)["url"].(string)
		repo, chart := url[:strings.LastIndex(url, "/")], url[strings.LastIndex(url, "/")+1:]
		if mirror[repo] == "" {
			t.Fatalf("no loopback stand-in for %s", repo)
		}
		chartArgs = []string{mirror[repo] + "/" + chart, "--plain-http", "--version", version[chart]}
	default:
		cs := spec["chart"].(map[string]any)["spec"].(map[string]any)
		sref := cs["sourceRef"].(map[string]any)
		sns, _ := sref["namespace"].(string)
		if sns == "" {
			sns = ns
		}
		src := objs[fmt.Sprintf("source.toolkit.fluxcd.io/v1/HelmRepository/%s/%s", sns, sref["name"])]
		if src == nil {
			t.Fatalf("HelmRelease %s/%s: HelmRepository %v not in the build", ns, name, sref["name"])
		}
		repo := src["spec"].(map[string]any)["url"].(string)
		if mirror[repo] == "" {
			t.Fatalf("no loopback stand-in for %s", repo)
		}
		chart := cs["chart"].(string)
		chartArgs = []string{chart, "--repo", mirror[repo], "--version", version[chart]}
	}
	dir := t.TempDir()
	values, err := sigsyaml.Marshal(spec["values"])
	if err != nil {
		t.Fatal(err)
	}
	vf := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(vf, values, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"template", rel}, chartArgs...)
	args = append(args, "--namespace", target, "--values", vf, "--skip-tests")
	if inst, _ := spec["install"].(map[string]any); inst == nil || inst["crds"] != "Skip" {
		args = append(args, "--include-crds")
	}
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(dir, "cache"), "HELM_CONFIG_HOME="+filepath.Join(dir, "config"), "HELM_DATA_HOME="+filepath.Join(dir, "data"))
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// TestFluxCorpusRenderEqualsKustomizeAndHelm is the golden test:
// on flux2-kustomize-helm-example with its charts cached from loopback
// repositories, `gate render --env production` (and staging) holds exactly
// the objects `kustomize build` of every Kustomization path plus `helm
// template` of every HelmRelease, with the same values, give. The Flux
// additions kustomize build does not know (the kustomization
// kustomize-controller generates for a cluster directory, the inline patch
// of infra-configs) are written here by hand, as a user would.
func TestFluxCorpusRenderEqualsKustomizeAndHelm(t *testing.T) {
	helm := helmBin(t)
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
	mirror := map[string]string{
		chartrepo.PodinfoRepo:     ex.Helm.URL,
		chartrepo.CertManagerRepo: ex.Registry.URL("quay.io/jetstack/charts"),
		chartrepo.EnvoyRepo:       ex.Registry.URL("docker.io/envoyproxy"),
	}
	// Every range in the corpus admits every published version: the newest
	// is the one helm-controller installs.
	version := map[string]string{}
	for name, cs := range ex.Charts {
		version[name] = cs[len(cs)-1].Version
	}

	for _, env := range []struct{ name, acme string }{
		{"production", "https://acme-v02.api.letsencrypt.org/directory"},
		{"staging", "https://acme-staging-v02.api.letsencrypt.org/directory"},
	} {
		t.Run(env.name, func(t *testing.T) {
			out, stderr, code := runGate(t, append(g, "render", "--env", env.name)...)
			if code != 0 {
				t.Fatalf("gate render --env %s: exit %d\n%s", env.name, code, stderr)
			}
			got := yamlObjects(t, "gate render", []byte(out))

			tmp := t.TempDir()
			if err := os.CopyFS(tmp, os.DirFS(corpus)); err != nil {
				t.Fatal(err)
			}
			write := func(rel, content string) {
				t.Helper()
				p := filepath.Join(tmp, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cluster := "clusters/" + env.name
			write(cluster+"/kustomization.yaml", "resources: [apps.yaml, artifacts.yaml, infrastructure.yaml]\n")
			write("expect/infra-configs/kustomization.yaml", `resources: [../../infrastructure/configs]
patches:
  - patch: |
      - op: replace
        path: /spec/acme/server
        value: `+env.acme+`
    target:
      kind: ClusterIssuer
      name: letsencrypt
`)
			want := map[string]map[string]any{}
			add := func(what string, stream []byte) {
				for id, o := range yamlObjects(t, what, stream) {
					if _, dup := want[id]; dup {
						t.Fatalf("%s: %s twice in the expected objects", what, id)
					}
					want[id] = o
				}
			}
			for _, dir := range []string{cluster, "infrastructure/controllers", "expect/infra-configs", "apps/" + env.name} {
				add("kustomize build "+dir, kustomizeCLI(t, filepath.Join(tmp, dir)))
			}
			var releases []string
			for id := range want {
				if strings.HasPrefix(id, "helm.toolkit.fluxcd.io/v2/HelmRelease/") {
					releases = append(releases, id)
				}
			}
			sort.Strings(releases)
			if !slices.Equal(releases, []string{
				"helm.toolkit.fluxcd.io/v2/HelmRelease/cert-manager/cert-manager",
				"helm.toolkit.fluxcd.io/v2/HelmRelease/envoy-gateway-system/envoy-gateway",
				"helm.toolkit.fluxcd.io/v2/HelmRelease/podinfo/podinfo",
			}) {
				t.Fatalf("HelmReleases in the kustomize builds: %v", releases)
			}
			objs := maps(want)
			charted := 0
			for _, id := range releases {
				n := len(want)
				add("helm template "+id, helmTemplate(t, helm, want[id], objs, mirror, version))
				if len(want) == n {
					t.Fatalf("helm template of %s gave no object", id)
				}
				charted += len(want) - n
			}

			var wk, gk []string
			for k := range want {
				wk = append(wk, k)
			}
			for k := range got {
				gk = append(gk, k)
			}
			sort.Strings(wk)
			sort.Strings(gk)
			if !slices.Equal(wk, gk) {
				t.Fatalf("object sets differ\nkustomize + helm only: %v\ngate only: %v", minus(wk, gk), minus(gk, wk))
			}
			for _, k := range wk {
				wy, _ := sigsyaml.Marshal(want[k])
				gy, _ := sigsyaml.Marshal(got[k])
				if string(wy) != string(gy) {
					t.Errorf("%s differs:\nkustomize + helm:\n%s\ngate:\n%s", k, wy, gy)
				}
			}
			t.Logf("%s: %d objects equal, %d of them from helm template of %d HelmReleases", env.name, len(wk), charted, len(releases))
		})
	}
}

func maps(m map[string]map[string]any) map[string]map[string]any {
	c := make(map[string]map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
