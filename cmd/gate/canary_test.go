package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// The canaries of TestCanaryEveryCommandEveryFormat: one per place a Secret
// value can sit in an ops repo. None may appear in any output.
const (
	canaryStringData  = "GATE-CANARY-stringdata-7c41e9b2"
	canaryData        = "GATE-CANARY-data-3f8a02d6"
	canaryLastApplied = "GATE-CANARY-lastapplied-91bd5e07"
	canaryRenderError = "GATE-CANARY-rendererror-5d2e7713"
	canaryHead        = "GATE-CANARY-head-a0c3d9f4"
)

func canaryValues() []string {
	return []string{canaryStringData, canaryData, canaryLastApplied, canaryRenderError, canaryHead}
}

// canaryForms are the forms a value must appear in nowhere: in clear, in
// base64 (standard and URL alphabets) and as the byte list %v prints.
func canaryForms(v string) []string {
	return []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.URLEncoding.EncodeToString([]byte(v)),
		strings.Trim(fmt.Sprint([]byte(v)), "[]")}
}

func canarySecret(password string) string {
	lastApplied := fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"stringData":{"password":%q}}`, canaryLastApplied)
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: db
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '%s'
stringData:
  password: %s
data:
  token: %s
`, lastApplied, password, base64.StdEncoding.EncodeToString([]byte(canaryData)))
}

// canaryRepo is a git repo with two commits: the base holds a Secret with a
// canary in data, stringData and the last-applied annotation, an
// environment whose render error quotes a Secret value (kustomize prints
// the node a replacement cannot apply to), a policy whose message echoes
// Secret values and a Gatekeeper suite that tests the repo's Secret with a
// constraint echoing it (a failing case quotes the violation). The head
// changes the Secret's value, so diff and check --base compare two values.
func canaryRepo(t *testing.T) string {
	t.Helper()
	r := gittest.New(t)
	files := map[string]string{
		"gate.yaml":                   "environments:\n  - name: good\n    path: env/good\n  - name: broken\n    path: env/broken\n",
		"env/good/kustomization.yaml": "resources:\n  - secret.yaml\n  - app.yaml\n",
		"env/good/app.yaml":           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  mode: plain\n",
		"env/good/secret.yaml":        canarySecret(canaryStringData),
		"env/broken/kustomization.yaml": `resources:
  - list.yaml
replacements:
  - source: {kind: ConfigMap, name: cm, fieldPath: data.x}
    targets:
      - select: {kind: Secret, name: db}
        fieldPaths: [stringData.password.y]
`,
		"env/broken/list.yaml": fmt.Sprintf(`apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Secret
    metadata: {name: db}
    stringData: {password: %q}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: cm}
    data: {x: "plain"}
`, canaryRenderError),
		"policy/echo.rego": `package main

import rego.v1

deny contains msg if {
	input.kind == "Secret"
	some k, v in input.stringData
	msg := sprintf("weak password in %s: %s", [k, v])
}

deny contains msg if {
	input.kind == "Secret"
	some k, v in input.data
	msg := sprintf("weak token in %s: %s (%s)", [k, v, base64.decode(v)])
}

deny contains msg if {
	input.kind == "Secret"
	some k, v in input.metadata.annotations
	msg := sprintf("annotation %s: %s", [k, v])
}
`,
		"policy/gatekeeper/template.yaml": `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sechosecret
spec:
  crd:
    spec:
      names:
        kind: K8sEchoSecret
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8sechosecret

        violation[{"msg": msg}] {
          v := input.review.object.stringData[k]
          msg := sprintf("%v is %v", [k, v])
        }

        violation[{"msg": msg}] {
          v := input.review.object.data[k]
          msg := sprintf("%v is %v / %v", [k, v, base64.decode(v)])
        }
`,
		"policy/gatekeeper/constraint.yaml": `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sEchoSecret
metadata:
  name: echo
spec:
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["Secret"]
`,
		"policy/gatekeeper/suite.yaml": `apiVersion: test.gatekeeper.sh/v1alpha1
kind: Suite
metadata:
  name: echo
tests:
  - name: echo
    template: template.yaml
    constraint: constraint.yaml
    cases:
      - name: secret-allowed
        object: ../../env/good/secret.yaml
        assertions:
          - violations: no
      - name: secret-other-message
        object: ../../env/good/secret.yaml
        assertions:
          - violations: 1
            message: never-matches
`,
	}
	for p, c := range files {
		r.Write(p, c)
	}
	r.Commit("base")
	r.Write("env/good/secret.yaml", canarySecret(canaryHead))
	r.Commit("head")
	return r.Dir
}

// TestCanaryEveryCommandEveryFormat runs render, validate, check, diff and
// policy test in every output format each of them has (the report formats
// from report.FormatNames(), to stdout and all at once to files) over a
// repo whose Secret values are canaries, with debug logs on: no canary, in
// clear or base64, reaches stdout, stderr or any report file.
//
// gate render prints the rendered objects as kustomize build does, Secrets
// included (render parity, README "gate render"): its stdout is checked
// with the Secret objects taken out; everything else it prints (the other
// objects, findings, errors) must be clean.
func TestCanaryEveryCommandEveryFormat(t *testing.T) {
	repo := canaryRepo(t)
	type cmdCase struct {
		name    string
		args    []string
		formats []string
		// toFiles: the command takes FORMAT=PATH outputs.
		toFiles bool
		// render: stdout is rendered objects (Secrets kept, parity).
		render bool
		// codes the command may exit with on this repo.
		codes []int
	}
	reportFormats := report.FormatNames()
	cases := []cmdCase{
		{name: "render", args: []string{"render"}, formats: []string{"yaml", "json"}, render: true, codes: []int{exitFindings}},
		{name: "validate", args: []string{"validate"}, formats: reportFormats, toFiles: true, codes: []int{exitFindings}},
		{name: "check", args: []string{"check"}, formats: reportFormats, toFiles: true, codes: []int{exitFindings}},
		// With a base, the findings the base already has do not fail.
		{name: "check-base", args: []string{"check", "--base", "HEAD~1"}, formats: reportFormats, toFiles: true, codes: []int{exitPass, exitFindings}},
		{name: "diff", args: []string{"diff", "--base", "HEAD~1"}, formats: reportFormats, toFiles: true, codes: []int{exitPass, exitFindings}},
		{name: "policy-test", args: []string{"policy", "test"}, formats: []string{"text", "json"}, codes: []int{exitFindings}},
	}
	if len(reportFormats) < 6 {
		t.Fatalf("report.FormatNames() = %v: the registry lost formats", reportFormats)
	}
	check := func(t *testing.T, c cmdCase, outputs map[string]string) {
		t.Helper()
		for where, text := range outputs {
			for _, v := range canaryValues() {
				for _, form := range canaryForms(v) {
					if strings.Contains(text, form) {
						t.Errorf("gate %s: %s leaks a Secret value (%q):\n%.3000s", strings.Join(c.args, " "), where, form, text)
					}
				}
			}
		}
	}
	for _, c := range cases {
		for _, format := range c.formats {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				args := append([]string{"--repo", repo, "-v"}, c.args...)
				args = append(args, "-o", format)
				stdout, stderr, code := runGate(t, args...)
				if !containsInt(c.codes, code) {
					t.Fatalf("exit %d, want one of %v\nstdout:\n%.2000s\nstderr:\n%.2000s", code, c.codes, stdout, stderr)
				}
				// (github annotations are findings only; a diff has none.)
				if strings.TrimSpace(stdout) == "" && format != "github" {
					t.Fatalf("no output on stdout; stderr:\n%s", stderr)
				}
				if c.name == "diff" && format == "text" && !strings.Contains(stdout, "sha256:") {
					t.Errorf("diff shows no changed Secret value hash:\n%s", stdout)
				}
				if c.render {
					stdout = withoutSecrets(t, format, stdout)
				}
				check(t, c, map[string]string{"stdout": stdout, "stderr": stderr})
			})
		}
		if !c.toFiles {
			continue
		}
		t.Run(c.name+"/files", func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"--repo", repo, "-v"}, c.args...)
			for _, f := range c.formats {
				args = append(args, "-o", f+"="+filepath.Join(dir, "report."+f))
			}
			stdout, stderr, code := runGate(t, args...)
			if !containsInt(c.codes, code) {
				t.Fatalf("exit %d, want one of %v\n%s", code, c.codes, stderr)
			}
			outputs := map[string]string{"stdout": stdout, "stderr": stderr}
			for _, f := range c.formats {
				b, err := os.ReadFile(filepath.Join(dir, "report."+f))
				if err != nil {
					t.Fatalf("format %s wrote no file: %v", f, err)
				}
				outputs["report."+f] = string(b)
			}
			check(t, c, outputs)
		})
	}
}

// withoutSecrets drops the Secret objects from gate render's output.
func withoutSecrets(t *testing.T, format, out string) string {
	t.Helper()
	if format == "yaml" {
		var kept []string
		for _, doc := range strings.Split(out, "\n---\n") {
			if strings.Contains(doc, "\nkind: Secret\n") {
				continue
			}
			kept = append(kept, doc)
		}
		if len(kept) == len(strings.Split(out, "\n---\n")) {
			t.Fatalf("render printed no Secret:\n%s", out)
		}
		return strings.Join(kept, "\n---\n")
	}
	var envs []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &envs); err != nil {
		t.Fatalf("render -o json: %v", err)
	}
	dropped := 0
	for _, e := range envs {
		var res []map[string]any
		if err := json.Unmarshal(e["resources"], &res); err != nil {
			t.Fatalf("render -o json resources: %v", err)
		}
		var kept []map[string]any
		for _, r := range res {
			if obj, _ := r["object"].(map[string]any); obj != nil && obj["kind"] == "Secret" {
				dropped++
				continue
			}
			kept = append(kept, r)
		}
		e["resources"], _ = json.Marshal(kept)
	}
	if dropped == 0 {
		t.Fatalf("render -o json printed no Secret:\n%s", out)
	}
	b, _ := json.Marshal(envs)
	return string(b)
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
