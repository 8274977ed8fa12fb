package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/live"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/config"
	"github.com/gate-ops/gate/internal/gittest"
	"github.com/gate-ops/gate/internal/kubetest"
)

// TestLiveStage runs the --live glue against a real API server through a
// kubeconfig: an environment naming a context is compared, one naming none
// gets a notice, and a context missing from the kubeconfig is an error
// finding on that environment.
func TestLiveStage(t *testing.T) {
	srv := kubetest.StartTB(t)
	kubeconfig, err := srv.Kubeconfig(kubetest.AdminUser, "prod-ctx")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"gate.yaml": "live:\n  kubeconfig: " + kubeconfig + "\n" + `environments:
- name: prod
  path: prod
  cluster: prod-ctx
- name: dev
  path: dev
- name: lost
  path: lost
  cluster: no-such-context
`,
		"prod/kustomization.yaml": "resources:\n- cm.yaml\n",
		"prod/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  A: b\n",
		"dev/kustomization.yaml":  "resources:\n- cm.yaml\n",
		"dev/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dev-settings\ndata:\n  A: b\n",
		"lost/kustomization.yaml": "resources:\n- cm.yaml\n",
		"lost/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lost\ndata:\n  A: b\n",
	}
	src := source.NewMem("head", files)
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := &liveOptions{enabled: true}
	st, finds := o.stage(cfg)
	if st == nil || len(finds) > 0 {
		t.Fatalf("live stage: %v", finds)
	}
	rep, err := engine.Run(ctx, &engine.Request{Head: src, Config: cfg, Stages: []engine.Stage{st}})
	if err != nil {
		t.Fatal(err)
	}

	by := map[string]checks.EnvReport{}
	for _, e := range rep.Envs {
		by[e.Env.Name] = e
	}
	prod := by["prod"]
	if prod.Live == nil || len(prod.Live.Changes) != 1 || prod.Live.Changes[0].Action != checks.ActionAdded || prod.Live.Changes[0].ID.Name != "settings" {
		t.Errorf("prod: want the ConfigMap shown as added in the live diff, got %+v (findings %v)", prod.Live, prod.Findings)
	}
	if !prod.Pass {
		t.Errorf("prod must pass: %v", prod.Findings)
	}
	dev := by["dev"]
	if dev.Live != nil || len(dev.Findings) != 1 || dev.Findings[0].RuleID != "live/no-cluster" || dev.Findings[0].Severity != checks.SeverityNotice {
		t.Errorf("dev names no cluster: want one live/no-cluster notice, got %v", dev.Findings)
	}
	lost := by["lost"]
	if lost.Pass || len(lost.Findings) != 1 || lost.Findings[0].RuleID != live.RuleUnreachable || !strings.Contains(lost.Findings[0].Message, "no-such-context") {
		t.Errorf("lost: want a failing live/unreachable error naming the context, got %v", lost.Findings)
	}
}

func TestLiveTimeoutInGateYAMLIsAFinding(t *testing.T) {
	cfg, err := config.Parse("gate.yaml", []byte("live:\n  timeout: soon\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, finds := (&liveOptions{enabled: true}).stage(cfg)
	if st != nil || len(finds) != 1 || finds[0].Origin != (checks.Origin{File: "gate.yaml", Line: 1}) || !strings.Contains(finds[0].Message, `"soon"`) {
		t.Errorf("want one finding on gate.yaml:1 naming the bad timeout, got %v", finds)
	}
	if st, _ := (&liveOptions{}).stage(cfg); st != nil {
		t.Error("without --live there is no live stage")
	}
}

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
