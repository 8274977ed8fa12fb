package policy

import (
	"context"
	"path"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/policies"
)

// TestBuiltinExamples runs every rule's allowed.yaml and denied.yaml through
// the real stage (render, evaluate, locate) in a production environment with
// required labels configured: the allowed example raises nothing for its
// rule, the denied one raises it on the line to change.
func TestBuiltinExamples(t *testing.T) {
	st0, _ := Load(context.Background(), nil, parseConfig(t, "policies:\n  requiredLabels: [app.kubernetes.io/name, app.kubernetes.io/part-of]\n"), testOpts())
	ids := map[string]string{} // rule directory -> id
	for _, u := range st0.units {
		for _, p := range u.pkgs {
			ids[strings.TrimPrefix(p.name, builtinPrefix)] = p.ruleID(p.rules[0])
		}
	}
	examples := policies.Examples()
	if len(examples) < 20 {
		t.Fatalf("%d examples", len(examples))
	}
	for _, ex := range examples {
		id := ids[ex.Rule]
		if id == "" {
			t.Fatalf("no rule for example directory %s", ex.Rule)
		}
		name := ex.Rule + "/" + path.Base(ex.File.Path)
		t.Run(name, func(t *testing.T) {
			src := source.NewMem("worktree", map[string]string{
				"gate.yaml":                      "environments:\n  - name: prod\n    path: env\n    labels: {tier: production}\npolicies:\n  requiredLabels: [app.kubernetes.io/name, app.kubernetes.io/part-of]\n",
				"env/" + path.Base(ex.File.Path): string(ex.File.Data),
			})
			cfg := mustConfig(t, src)
			st := mustLoad(t, src, cfg, testOpts())
			res := renderAll(t, src, cfg)[0]
			fs := check(t, st, res, nil)
			for _, f := range fs {
				if strings.HasPrefix(f.RuleID, "policy/") {
					t.Fatalf("policy problem: %s", dump(fs))
				}
			}
			got := byRule(fs, id)
			if ex.Allowed {
				if len(got) != 0 {
					t.Fatalf("allowed example flagged by %s: %s", id, dump(got))
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("denied example not flagged by %s: %s", id, dump(fs))
			}
			for _, f := range got {
				if f.Resource == nil || f.Origin.File != "env/denied.yaml" || f.Origin.Line == 0 || f.HelpURL == "" || f.Message == "" {
					t.Fatalf("finding not located: %+v", f)
				}
				if f.Severity == checks.SeverityNone {
					t.Fatalf("no severity: %+v", f)
				}
			}
		})
	}
}

// TestBuiltinFindingsLandOnTheLine checks the blame for a field set by a
// patch: the image line of the overlay, not the base document.
func TestBuiltinFindingsLandOnTheLine(t *testing.T) {
	src := source.NewMem("worktree", map[string]string{
		"gate.yaml":               "environments:\n  - name: dev\n    path: overlay\n",
		"base/kustomization.yaml": "resources:\n  - deploy.yaml\n",
		"base/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
        - name: web
          image: ghcr.io/acme/web:1.0.0
          resources:
            requests: {cpu: 10m, memory: 10Mi}
            limits: {cpu: 10m, memory: 10Mi}
`,
		"overlay/kustomization.yaml": "resources:\n  - ../base\npatches:\n  - path: latest.yaml\n",
		"overlay/latest.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:latest
`,
	})
	cfg := mustConfig(t, src)
	st := mustLoad(t, src, cfg, testOpts())
	fs := check(t, st, renderAll(t, src, cfg)[0], nil)
	got := byRule(fs, "image-tag-pinned")
	if len(got) != 1 || got[0].Origin.String() != "overlay/latest.yaml:10" || got[0].Path != "spec.template.spec.containers[0].image" {
		t.Fatalf("findings: %s", dump(fs))
	}
	if len(fs) != 1 {
		t.Fatalf("want only the image finding: %s", dump(fs))
	}
}
