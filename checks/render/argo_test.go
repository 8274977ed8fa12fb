package render

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

const argoExample = "../../testdata/argocd"

func openArgo(t testing.TB) (source.Source, *config.Config) {
	t.Helper()
	src, err := source.OpenDir(argoExample, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	return src, cfg
}

// envTable is what `gate envs` shows of Argo CD environments: name, file,
// and the tree with the line of each node.
func envTable(envs []checks.Env) string {
	var b strings.Builder
	for _, e := range envs {
		fmt.Fprintf(&b, "%s %s %s cluster=%s ns=%s\n  why: %s\n", e.Name, e.Kind, e.Path, e.Cluster, e.Namespace, e.Reason)
		for _, n := range e.Tree {
			fmt.Fprintf(&b, "%s%s %s [%s] %s", strings.Repeat("  ", n.Depth+1), n.Kind, n.Name, n.Detail, n.Origin)
			if n.NotRendered != "" {
				fmt.Fprintf(&b, " NOT RENDERED: %s", n.NotRendered)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func TestArgoDiscover(t *testing.T) {
	src, cfg := openArgo(t)
	envs, finds := Discover(src, cfg)
	for _, f := range finds {
		t.Errorf("discover finding: %s", f)
	}
	golden(t, "argocd/envs.txt", envTable(envs))
}

func TestArgoRenderGolden(t *testing.T) {
	src, cfg := openArgo(t)
	envs, _ := Discover(src, cfg)
	r := New(Options{})
	for _, e := range envs {
		t.Run(e.Name, func(t *testing.T) {
			res := r.Render(context.Background(), src, e)
			var b strings.Builder
			for _, f := range res.Findings {
				fmt.Fprintf(&b, "# finding: %s\n", f)
			}
			fmt.Fprintf(&b, "# files: %s\n", strings.Join(res.Files, " "))
			b.WriteString(asYAML(res))
			golden(t, "argocd/"+e.Name+".yaml", b.String())
		})
	}
}

// A field a chart template fills from .Values is located on the line that
// set the value: valuesObject, a values: block, a parameter, a $ref values
// file; the chart's own values.yaml when nothing overrides it.
func TestArgoHelmValueLines(t *testing.T) {
	src, cfg := openArgo(t)
	envs, _ := Discover(src, cfg)
	r := New(Options{})
	tests := []struct {
		env, kind string
		path      []string
		want      string
	}{
		{"helm-inline", "Deployment", []string{"spec", "replicas"}, "argocd/helm-values.yaml:27"},
		{"helm-inline", "Service", []string{"spec", "ports", "0", "port"}, "argocd/helm-values.yaml:33"},
		{"helm-inline", "Deployment", []string{"spec", "template", "spec", "containers", "0", "image"}, "helm-guestbook/values.yaml:3"}, // valuesObject replaces values: wholesale, as in Argo CD
		{"helm-inline", "Deployment", []string{"spec", "template", "spec", "containers", "0", "resources", "limits", "cpu"}, "argocd/helm-values.yaml:30"},
		{"helm-inline", "Service", []string{"spec", "type"}, "helm-guestbook/values-production.yaml:2"},
		{"multi-source", "Deployment", []string{"spec", "replicas"}, "values/prod/guestbook.yaml:1"},
		{"helm-guestbook", "Deployment", []string{"spec", "replicas"}, "helm-guestbook/values.yaml:1"},
	}
	for _, tc := range tests {
		t.Run(tc.env+"/"+strings.Join(tc.path, "."), func(t *testing.T) {
			sel, err := SelectEnvs(envs, []string{tc.env})
			if err != nil {
				t.Fatal(err)
			}
			res := r.Render(context.Background(), src, sel[0])
			for _, rs := range res.Resources {
				if rs.ID.Kind == tc.kind {
					if got := res.Locate(rs, tc.path).String(); got != tc.want {
						t.Errorf("Locate(%s %v) = %s, want %s", tc.kind, tc.path, got, tc.want)
					}
					return
				}
			}
			t.Fatalf("no %s rendered", tc.kind)
		})
	}
}

func kustomizeBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("GATE_KUSTOMIZE_BIN")
	if bin == "" {
		bin, _ = filepath.Abs("../../bin/kustomize")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no kustomize CLI at %s (make tools builds it; make test sets GATE_KUSTOMIZE_BIN)", bin)
	}
	return bin
}

// An Application's kustomize overrides render as Argo CD's repo-server
// makes them: the real `kustomize edit` commands it runs (and the patches
// it appends to the kustomization), then `kustomize build`, on a copy of
// the fixture give the objects gate renders.
func TestArgoKustomizeMatchesKustomizeEdit(t *testing.T) {
	bin := kustomizeBin(t)
	src, cfg := openArgo(t)
	envs, _ := Discover(src, cfg)
	tests := []struct {
		env, dir string
		edits    [][]string
		patches  string
	}{
		{"kustomize-guestbook", "kustomize-guestbook", [][]string{
			{"set", "nameprefix", "--", "demo-"},
			{"set", "namesuffix", "--", "-v2"},
			{"set", "image", "gcr.io/heptio-images/ks-guestbook-demo:0.3"},
			{"set", "replicas", "guestbook-ui=3"},
			{"add", "label", "team:guestbook"},
			{"add", "annotation", "owner:platform"},
			{"set", "namespace", "kustomize-guestbook"},
			{"add", "component", "../components/team"},
		}, "patches:\n- target:\n    kind: Deployment\n    name: guestbook-ui\n  patch: |-\n    - op: replace\n      path: /spec/revisionHistoryLimit\n      value: 5\n"},
		{"guestbook-staging", "envs/staging", [][]string{
			{"set", "nameprefix", "--", "staging-"},
			{"set", "replicas", "kustomize-guestbook-ui=2"},
			{"add", "label", "env:staging"},
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			tmp := t.TempDir()
			copyTree(t, argoExample, tmp)
			dir := filepath.Join(tmp, filepath.FromSlash(tc.dir))
			for _, e := range tc.edits {
				cmd := exec.Command(bin, append([]string{"edit"}, e...)...)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("kustomize edit %v: %v\n%s", e, err, out)
				}
			}
			if tc.patches != "" {
				kf := filepath.Join(dir, "kustomization.yaml")
				b, err := os.ReadFile(kf)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(kf, append(b, tc.patches...), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command(bin, "build", dir).Output()
			if err != nil {
				t.Fatalf("kustomize build: %v", err)
			}
			want := objectsByID(t, bytes.Split(out, []byte("\n---\n")))
			sel, err := SelectEnvs(envs, []string{tc.env})
			if err != nil {
				t.Fatal(err)
			}
			res := New(Options{}).Render(context.Background(), src, sel[0])
			if len(res.Findings) > 0 {
				t.Fatalf("render: %v", res.Findings)
			}
			var got [][]byte
			for _, r := range res.Resources {
				got = append(got, r.YAML)
			}
			compareObjects(t, want, objectsByID(t, got))
		})
	}
}

func helmBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("GATE_HELM_BIN")
	if bin == "" {
		bin, _ = filepath.Abs("../../bin/helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no helm CLI at %s (make tools builds it; make test sets GATE_HELM_BIN)", bin)
	}
	return bin
}

// TestArgoHelmMatchesHelmTemplate: an Application's Helm source renders as
// Argo CD's repo-server renders it, `helm template` with the flags it
// builds from the Application: the release name (the Application's name
// unless helm.releaseName), --namespace of the destination, -f for each
// valueFiles entry (a missing one dropped with ignoreMissingValueFiles, a
// $ref one read from the repo), -f for valuesObject (or values), --set and
// --set-string (forceString) for parameters, --set-file for
// fileParameters, --include-crds unless skipCrds. The real Helm CLI gives
// the objects gate renders.
func TestArgoHelmMatchesHelmTemplate(t *testing.T) {
	bin := helmBin(t)
	src, cfg := openArgo(t)
	envs, _ := Discover(src, cfg)
	chart := filepath.Join(argoExample, "helm-guestbook")
	inlineValues := filepath.Join(t.TempDir(), "values-object.yaml")
	if err := os.WriteFile(inlineValues, []byte("replicaCount: 2\nresources:\n  limits:\n    cpu: 100m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env  string
		args []string
	}{
		{"helm-guestbook", []string{"helm-guestbook", chart, "--namespace", "helm-guestbook", "-f", filepath.Join(chart, "values-production.yaml"), "--include-crds"}},
		{"helm-inline", []string{"inline", chart, "--namespace", "helm-inline",
			"-f", filepath.Join(chart, "values-production.yaml"), "-f", inlineValues,
			"--set", "service.port=8080", "--set-string", "image.pullPolicy=Always",
			"--set-file", "motd=" + filepath.Join(chart, "files", "motd.txt")}},
		{"multi-source", []string{"multi-source", chart, "--namespace", "multi", "-f", filepath.Join(argoExample, "values", "prod", "guestbook.yaml"), "--include-crds"}},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			out, err := exec.Command(bin, append([]string{"template"}, tc.args...)...).Output()
			if err != nil {
				t.Fatalf("helm template %v: %v", tc.args, err)
			}
			var want [][]byte
			for _, d := range bytes.Split(out, []byte("\n---\n")) {
				if len(bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(d), []byte("---")))) > 0 {
					want = append(want, d)
				}
			}
			sel, err := SelectEnvs(envs, []string{tc.env})
			if err != nil {
				t.Fatal(err)
			}
			res := New(Options{}).Render(context.Background(), src, sel[0])
			for _, f := range res.Findings {
				t.Errorf("finding: %s", f)
			}
			var got [][]byte
			for _, r := range res.Resources {
				got = append(got, r.YAML)
			}
			compareObjects(t, objectsByID(t, want), objectsByID(t, got))
		})
	}
}
