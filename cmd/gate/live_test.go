package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/live"
	"github.com/gate-ops/gate/internal/cluster"
	"github.com/gate-ops/gate/internal/testing/gittest"
	"github.com/gate-ops/gate/internal/testing/kubetest"
)

// TestDiffAndCheckLiveCLI runs `gate diff --live` and `gate check --live`
// end to end: a git repo, a real API server holding the base as Argo CD
// deployed it, and a work tree that scales a Deployment and drops a
// ConfigMap, then one that changes the Deployment's selector.
func TestDiffAndCheckLiveCLI(t *testing.T) {
	srv := kubetest.StartTB(t)
	kc, err := srv.Kubeconfig(kubetest.AdminUser, "kind-prod")
	if err != nil {
		t.Fatal(err)
	}
	dep := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 2\n" +
		"  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n" +
		"    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
	r := gittest.New(t)
	r.Write("gate.yaml", "environments:\n- name: prod\n  path: app\n  cluster: kind-prod\n")
	r.Write("app/kustomization.yaml", "resources: [deploy.yaml, old.yaml]\n")
	r.Write("app/deploy.yaml", dep)
	r.Write("app/old.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n  namespace: default\ndata: {a: b}\n")
	r.Commit("base")
	// Deploy the base the way Argo CD does: server-side apply with its label.
	dyn, err := dynamic.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	for gvr, doc := range map[schema.GroupVersionResource]string{
		{Group: "apps", Version: "v1", Resource: "deployments"}: dep,
		{Version: "v1", Resource: "configmaps"}:                 "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n  namespace: default\ndata: {a: b}\n",
	} {
		var obj map[string]any
		if err := sigsyaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: obj}
		u.SetLabels(map[string]string{live.LabelArgoInstance: "prod"})
		if _, err := dyn.Resource(gvr).Namespace("default").Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "argocd-controller"}); err != nil {
			t.Fatal(err)
		}
	}

	r.Write("app/kustomization.yaml", "resources: [deploy.yaml]\n")
	r.Write("app/deploy.yaml", strings.Replace(dep, "replicas: 2", "replicas: 4", 1))
	out, stderr, code := runGate(t, "--repo", r.Dir, "diff", "--base", "HEAD", "--live", "--kubeconfig", kc, "-o", "json")
	if code != 0 {
		t.Fatalf("gate diff --live: exit %d\n%s", code, stderr)
	}
	var rep checks.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Envs) != 1 || rep.Envs[0].Live == nil {
		t.Fatalf("want the live diff of prod, got %s", out)
	}
	var got []string
	for _, c := range rep.Envs[0].Live.Changes {
		s := c.Action + " " + c.ID.String()
		for _, f := range c.Fields {
			s += " " + f.Path + ":" + f.Old + "->" + f.New
		}
		got = append(got, s)
	}
	if want := "removed ConfigMap/default/old|changed Deployment/default/web spec.replicas:2->4"; strings.Join(got, "|") != want {
		t.Errorf("live changes %q, want %q", strings.Join(got, "|"), want)
	}
	out, _, _ = runGate(t, "--repo", r.Dir, "diff", "--base", "HEAD", "--live", "--kubeconfig", kc)
	if !strings.Contains(out, "live cluster → head") || !strings.Contains(out, "+  replicas: 4") {
		t.Errorf("text report lacks the live diff:\n%s", out)
	}

	// A selector change cannot be applied: the gate fails on its line.
	r.Write("app/deploy.yaml", strings.ReplaceAll(dep, "{app: web}", "{app: web2}"))
	out, stderr, code = runGate(t, "--repo", r.Dir, "check", "--live", "--kubeconfig", kc, "--no-policy", "--no-schema")
	t.Logf("gate check --live:\n%s", out)
	if code != 1 || !strings.Contains(out, "app/deploy.yaml:8") || !strings.Contains(out, "live/rejected") || !strings.Contains(out, "immutable") ||
		!strings.Contains(out, "live cluster → head") || !strings.Contains(out, "ConfigMap/default/old") {
		t.Errorf("gate check --live with a selector change: exit %d\n%s\n%s", code, out, stderr)
	}
}

var updateGolden = flag.Bool("update", false, "rewrite golden files")

// liveGolden compares got with testdata/golden/live/name (-update rewrites).
func liveGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "golden", "live", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/gate -run TestLiveReportGolden -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (go test ./cmd/gate -run TestLiveReportGolden -update to accept):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// TestLiveReportGolden runs `gate diff --base HEAD --live` against a real
// API server in every report format and compares each with its golden
// file. The cluster runs the base as Argo CD applied it, plus a hand edit;
// the change scales the Deployment, rotates a Secret and drops a
// ConfigMap. Every format must show the live diff (with the prune), the
// drift apart from it, and no Secret value.
func TestLiveReportGolden(t *testing.T) {
	srv := kubetest.StartTB(t)
	kc, err := srv.Kubeconfig(kubetest.AdminUser, "kind-prod")
	if err != nil {
		t.Fatal(err)
	}
	const ns = "golden"
	const baseSecret, headSecret = "live-canary-base-Hq27Vd", "live-canary-head-Pw83Zt"
	dep := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: golden\nspec:\n  replicas: 2\n" +
		"  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n" +
		"    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n  namespace: golden\ndata:\n  mode: blue\n"
	secret := func(v string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: golden\ntype: Opaque\nstringData:\n  password: " + v + "\n"
	}
	nsDoc := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: golden\n"
	r := gittest.New(t)
	r.Write("gate.yaml", "environments:\n- name: prod\n  path: app\n  cluster: kind-prod\n")
	r.Write("app/kustomization.yaml", "resources: [ns.yaml, deploy.yaml, old.yaml, secret.yaml]\n")
	r.Write("app/ns.yaml", nsDoc)
	r.Write("app/deploy.yaml", dep)
	r.Write("app/old.yaml", cm)
	r.Write("app/secret.yaml", secret(baseSecret))
	r.Commit("base")

	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(gvr schema.GroupVersionResource, doc string) {
		t.Helper()
		var obj map[string]any
		if err := sigsyaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: obj}
		u.SetLabels(map[string]string{live.LabelArgoInstance: "prod"})
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if u.GetNamespace() != "" {
			ri = dyn.Resource(gvr).Namespace(u.GetNamespace())
		}
		if _, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "argocd-controller"}); err != nil {
			t.Fatal(err)
		}
	}
	apply(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, nsDoc)
	apply(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, dep)
	apply(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, cm)
	apply(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, secret(baseSecret))
	// Someone edits the ConfigMap by hand: drift.
	if _, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns).
		Patch(ctx, "old", types.MergePatchType, []byte(`{"data":{"mode":"green"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}

	r.Write("app/kustomization.yaml", "resources: [ns.yaml, deploy.yaml, secret.yaml]\n")
	r.Write("app/deploy.yaml", strings.Replace(dep, "replicas: 2", "replicas: 4", 1))
	r.Write("app/secret.yaml", secret(headSecret))
	dir := t.TempDir()
	files := map[string]string{"json": "live.json", "markdown": "live.md", "junit": "live.xml", "sarif": "live.sarif"}
	args := []string{"--repo", r.Dir, "diff", "--base", "HEAD", "--live", "--kubeconfig", kc, "-o", "text"}
	for f, name := range files {
		args = append(args, "-o", f+"="+filepath.Join(dir, name))
	}
	out, stderr, code := runGate(t, args...)
	if code != 0 {
		t.Fatalf("gate diff --live: exit %d\n%s\n%s", code, out, stderr)
	}
	outs := map[string][]byte{"live.txt": []byte(out)}
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		outs[name] = b
	}
	// What changes from run to run: durations.
	durations := regexp.MustCompile(`("durationNs": )\d+|( time=")[0-9.]+(")`)
	for name, b := range outs {
		b = durations.ReplaceAll(b, []byte("${1}${2}0${3}"))
		for _, v := range []string{baseSecret, headSecret} {
			for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
				if bytes.Contains(b, []byte(form)) {
					t.Errorf("%s contains the secret value %q", name, form)
				}
			}
		}
		liveGolden(t, name, b)
	}

	// The golden files hold what a reader needs: checked here so an
	// -update cannot quietly accept a regression.
	var rep checks.Report
	if err := json.Unmarshal(outs["live.json"], &rep); err != nil {
		t.Fatal(err)
	}
	e := rep.Envs[0]
	summary := func(d *checks.EnvDiff) string {
		if d == nil {
			return "<nil>"
		}
		var got []string
		for _, c := range d.Changes {
			s := c.Action + " " + c.ID.String()
			for _, f := range c.Fields {
				old, nw := f.Old, f.New
				if strings.HasPrefix(old, "<secret sha256:") && strings.HasPrefix(nw, "<secret sha256:") && old != nw {
					old, nw = "hash", "other hash"
				}
				s += " " + f.Path + ":" + old + "->" + nw
			}
			got = append(got, s)
		}
		return strings.Join(got, "|")
	}
	if got, want := summary(e.Live), "removed ConfigMap/golden/old|changed Deployment/golden/web spec.replicas:2->4|changed Secret/golden/creds data.password:hash->other hash"; got != want {
		t.Errorf("live:\n got %s\nwant %s", got, want)
	}
	if got, want := summary(e.Drift), "changed ConfigMap/golden/old data.mode:blue->green"; got != want {
		t.Errorf("drift:\n got %s\nwant %s", got, want)
	}
	for name, want := range map[string][]string{
		"live.txt":   {"live cluster → head", "drift (live differs from base)", "- ConfigMap/golden/old removed"},
		"live.md":    {"Diff against the live cluster", "Drift (the live cluster differs from the base)"},
		"live.xml":   {`name="diff against the live cluster"`, `name="drift from base"`},
		"live.sarif": {`"version": "2.1.0"`},
	} {
		for _, w := range want {
			if !bytes.Contains(outs[name], []byte(w)) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
}

// TestLiveRBACCommand: `gate live rbac` prints the documented ClusterRoles
// (the file the real-server test binds), ready for kubectl apply.
func TestLiveRBACCommand(t *testing.T) {
	out, stderr, code := runGate(t, "live", "rbac")
	if code != 0 || out != string(cluster.RBAC) {
		t.Fatalf("exit %d, output differs from internal/cluster/rbac.yaml: %s", code, stderr)
	}
	for _, want := range []string{"kind: ClusterRole", "name: gate-live-reader", `verbs: ["get", "list"]`} {
		if !strings.Contains(out, want) {
			t.Errorf("gate live rbac lacks %q", want)
		}
	}
}
