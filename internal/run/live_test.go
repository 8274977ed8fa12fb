package run

import (
	"context"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/live"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/kubetest"
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
	st, finds := Live{Enabled: true}.Stage(cfg)
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
	st, finds := Live{Enabled: true}.Stage(cfg)
	if st != nil || len(finds) != 1 || finds[0].Origin != (checks.Origin{File: "gate.yaml", Line: 1}) || !strings.Contains(finds[0].Message, `"soon"`) {
		t.Errorf("want one finding on gate.yaml:1 naming the bad timeout, got %v", finds)
	}
	if st, _ := (Live{}).Stage(cfg); st != nil {
		t.Error("without --live there is no live stage")
	}
}
