package policy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// requiredLabelsTemplate is a Gatekeeper template in the Rego v0 syntax the
// Gatekeeper library uses, with parameters.
const requiredLabelsTemplate = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8srequiredlabels
spec:
  crd:
    spec:
      names:
        kind: K8sRequiredLabels
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels:
              type: array
              items:
                type: string
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8srequiredlabels

        violation[{"msg": msg, "details": {"missing_labels": missing}}] {
          provided := {label | input.review.object.metadata.labels[label]}
          required := {label | label := input.parameters.labels[_]}
          missing := required - provided
          count(missing) > 0
          msg := sprintf("%v %v is missing label(s): %v", [input.review.kind.kind, input.review.name, missing])
        }
`

const constraints = `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata:
  name: workloads-have-team
spec:
  match:
    kinds:
      - apiGroups: ["apps"]
        kinds: ["Deployment"]
    excludedNamespaces: ["kube-*"]
  parameters:
    labels: ["team"]
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata:
  name: prod-namespaces-have-owner
spec:
  enforcementAction: warn
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["ConfigMap"]
    namespaceSelector:
      matchLabels:
        env: prod
  parameters:
    labels: ["owner"]
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata:
  name: audited-configmaps
spec:
  enforcementAction: dryrun
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["ConfigMap"]
    namespaces: ["shop"]
    labelSelector:
      matchExpressions:
        - {key: audited, operator: Exists}
  parameters:
    labels: ["auditor"]
`

const gkEnv = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    env: prod
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  template:
    spec:
      containers: []
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dns
  namespace: kube-system
spec:
  template:
    spec:
      containers: []
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
  labels:
    audited: "yes"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: elsewhere
  namespace: unrendered
`

func TestGatekeeperDialect(t *testing.T) {
	src := source.NewMem("worktree", map[string]string{
		"gate.yaml":                         "environments:\n  - name: prod\n    path: env\npolicies:\n  builtin: false\n",
		"policy/gatekeeper/template.yaml":   requiredLabelsTemplate,
		"policy/gatekeeper/constraint.yaml": constraints,
		"env/all.yaml":                      gkEnv,
	})
	cfg := mustConfig(t, src)
	st := mustLoad(t, src, cfg, testOpts())
	res := renderAll(t, src, cfg)[0]
	fs := check(t, st, res, nil)

	deny := byRule(fs, "K8sRequiredLabels/workloads-have-team")
	if len(deny) != 1 || deny[0].Severity != checks.SeverityError || deny[0].Resource.Name != "api" ||
		deny[0].Message != `Deployment api is missing label(s): {"team"}` || deny[0].Origin.String() != "env/all.yaml:8" {
		t.Fatalf("deny constraint (kube-system excluded): %s", dump(fs))
	}
	if got, _ := json.Marshal(deny[0].Details); string(got) != `{"missing_labels":["team"]}` {
		t.Fatalf("violation details = %s", got)
	}
	warn := byRule(fs, "K8sRequiredLabels/prod-namespaces-have-owner")
	if len(warn) != 1 || warn[0].Severity != checks.SeverityWarning || warn[0].Resource.Name != "settings" {
		t.Fatalf("warn constraint with namespaceSelector: %s", dump(fs))
	}
	dry := byRule(fs, "K8sRequiredLabels/audited-configmaps")
	if len(dry) != 1 || dry[0].Severity != checks.SeverityNotice || !strings.HasPrefix(dry[0].Message, "[dryrun] ConfigMap settings") {
		t.Fatalf("dryrun constraint with labelSelector: %s", dump(fs))
	}
	und := byRule(fs, RuleUndecidable)
	if len(und) != 1 || !strings.Contains(und[0].Message, `namespace "unrendered"`) || und[0].Origin.String() != "policy/gatekeeper/constraint.yaml:14" {
		t.Fatalf("undecidable namespaceSelector: %s", dump(fs))
	}
	if len(fs) != 4 {
		t.Fatalf("want 4 findings: %s", dump(fs))
	}
	rules := map[string]bool{}
	for _, r := range st.Rules() {
		rules[r.ID] = true
	}
	if !rules["K8sRequiredLabels/workloads-have-team"] {
		t.Fatalf("rules: %v", st.Rules())
	}
}

func TestGatekeeperTemplatesInTheRepo(t *testing.T) {
	// The ops repo deploys its own Gatekeeper policies: the constraints an
	// environment renders gate that environment.
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - gatekeeper.yaml\n  - app.yaml\n"
	app := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers: []\n"
	cons := strings.Split(constraints, "---\n")[0]
	src := source.NewMem("worktree", map[string]string{
		"gate.yaml":                        "environments:\n  - name: prod\n    path: clusters/prod\npolicies:\n  builtin: false\n",
		"clusters/prod/kustomization.yaml": kustomization,
		"clusters/prod/gatekeeper.yaml":    requiredLabelsTemplate + "---\n" + cons,
		"clusters/prod/app.yaml":           app,
	})
	cfg := mustConfig(t, src)
	st := mustLoad(t, src, cfg, testOpts())
	res := renderAll(t, src, cfg)[0]
	fs := check(t, st, res, nil)
	if len(byRule(fs, "K8sRequiredLabels/workloads-have-team")) != 1 {
		t.Fatalf("repo constraint not applied: %s", dump(fs))
	}
}

func TestGatekeeperTemplateErrorsLandInTheYAML(t *testing.T) {
	bad := strings.Replace(requiredLabelsTemplate, "count(missing) > 0", "count(missing) > 0\n          resp := http.send({\"method\": \"GET\", \"url\": \"https://x\"})", 1)
	src := source.NewMem("worktree", map[string]string{
		"gate.yaml":            "environments:\n  - name: prod\n    path: env\npolicies:\n  builtin: false\n",
		"policy/template.yaml": bad,
		"policy/cons.yaml":     strings.Split(constraints, "---\n")[0],
		"env/cm.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
	})
	_, load := Load(context.Background(), src, mustConfig(t, src), testOpts())
	var sawHTTP, sawMissing bool
	for _, f := range load {
		if f.Origin.String() == "policy/template.yaml:28" && strings.Contains(f.Message, "http.send is not allowed") {
			sawHTTP = true
		}
		if f.RuleID == RuleNoTemplate && f.Origin.String() == "policy/cons.yaml:1" {
			sawMissing = true
		}
	}
	if !sawHTTP || !sawMissing {
		t.Fatalf("load findings: %s", dump(load))
	}
}

func TestGatekeeperSuites(t *testing.T) {
	suite := `kind: Suite
apiVersion: test.gatekeeper.sh/v1alpha1
metadata:
  name: required-labels
tests:
  - name: workloads-have-team
    template: template.yaml
    constraint: constraint.yaml
    cases:
      - name: allowed
        object: samples/allowed.yaml
        assertions:
          - violations: no
      - name: disallowed
        object: samples/disallowed.yaml
        assertions:
          - violations: 1
            message: missing label
      - name: wrong-expectation
        object: samples/allowed.yaml
        assertions:
          - violations: yes
`
	src := source.NewMem("worktree", map[string]string{
		"policy/template.yaml":           requiredLabelsTemplate,
		"policy/constraint.yaml":         strings.Split(constraints, "---\n")[0],
		"policy/suite.yaml":              suite,
		"policy/samples/allowed.yaml":    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  labels: {team: x}\n",
		"policy/samples/disallowed.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\n",
	})
	rep := RunTests(context.Background(), []TestDir{{Src: src, Dir: "policy"}}, TestOptions{})
	if len(rep.Problems) > 0 {
		t.Fatalf("problems: %s", dump(rep.Problems))
	}
	if len(rep.Suites) != 3 || !rep.Suites[0].Pass || !rep.Suites[1].Pass || rep.Suites[2].Pass || rep.Failed() != 1 {
		t.Fatalf("suites: %+v", rep.Suites)
	}
	if !strings.Contains(rep.Suites[2].Err, "want violations: yes, got no violations") {
		t.Fatalf("failure message: %q", rep.Suites[2].Err)
	}
}

// TestGatekeeperRegoV1CodeTemplate: Gatekeeper 3.19's code: [{engine: Rego,
// source: {version: v1, rego, libs}}] form is parsed as Rego v1, its libs
// compiled with it, and a constraint's name and scope match are applied.
func TestGatekeeperRegoV1CodeTemplate(t *testing.T) {
	tmpl := `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8smaxreplicas
spec:
  crd:
    spec:
      names:
        kind: K8sMaxReplicas
  targets:
    - target: admission.k8s.gatekeeper.sh
      code:
        - engine: K8sNativeValidation
          source:
            validations:
              - expression: "true"
        - engine: Rego
          source:
            version: v1
            rego: |
              package k8smaxreplicas

              import data.lib.replicas

              violation contains {"msg": msg} if {
                n := replicas.of(input.review.object)
                n > input.parameters.max
                msg := sprintf("%d replicas, at most %d", [n, input.parameters.max])
              }
            libs:
              - |
                package lib.replicas

                of(obj) := n if {
                  n := obj.spec.replicas
                } else := 1
`
	cons := `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sMaxReplicas
metadata:
  name: api-at-most-3
spec:
  match:
    scope: Namespaced
    name: "api-*"
  parameters:
    max: 3
`
	env := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api-orders
  namespace: shop
spec:
  replicas: 5
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  namespace: shop
spec:
  replicas: 9
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api-small
  namespace: shop
spec:
  replicas: 2
`
	src := source.NewMem("worktree", map[string]string{
		"gate.yaml":              "environments:\n  - name: prod\n    path: env\npolicies:\n  builtin: false\n",
		"policy/template.yaml":   tmpl,
		"policy/constraint.yaml": cons,
		"env/deploy.yaml":        env,
	})
	cfg := mustConfig(t, src)
	st := mustLoad(t, src, cfg, testOpts())
	fs := check(t, st, renderAll(t, src, cfg)[0], nil)
	if len(fs) != 1 || fs[0].RuleID != "K8sMaxReplicas/api-at-most-3" || fs[0].Resource.Name != "api-orders" || fs[0].Message != "5 replicas, at most 3" {
		t.Fatalf("findings: %s", dump(fs))
	}
	// A v1 template is really parsed as v1: v0-only syntax is an error on
	// its line in the YAML.
	bad := strings.Replace(tmpl, "violation contains {\"msg\": msg} if {", "violation[{\"msg\": msg}] {", 1)
	src = source.NewMem("worktree", map[string]string{
		"gate.yaml":              "environments:\n  - name: prod\n    path: env\npolicies:\n  builtin: false\n",
		"policy/template.yaml":   bad,
		"policy/constraint.yaml": cons,
		"env/deploy.yaml":        env,
	})
	_, load := Load(context.Background(), src, mustConfig(t, src), testOpts())
	found := false
	for _, f := range load {
		if f.RuleID == RuleLoad && f.Origin.File == "policy/template.yaml" && f.Origin.Line >= 23 && f.Origin.Line <= 27 {
			found = true
		}
	}
	if !found {
		t.Fatalf("v0 syntax in a v1 template not reported on its line: %s", dump(load))
	}
}
