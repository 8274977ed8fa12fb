package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// securityPolicy is a security team's conftest policy in package main.
const securityPolicy = `package main

deny contains msg if {
	input.kind == "Deployment"
	some c in input.spec.template.spec.containers
	startswith(c.image, "docker.io/")
	msg := sprintf("container %s pulls from Docker Hub", [c.name])
}

warn contains "no team label" if {
	not input.metadata.labels.team
}
`

const securityTests = `package main_test

import data.main

test_docker_hub_denied if {
	main.deny["container web pulls from Docker Hub"] with input as {"kind": "Deployment", "metadata": {"labels": {"team": "a"}}, "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "docker.io/nginx:1"}]}}}}
}

test_ghcr_allowed if {
	count(main.deny) == 0 with input as {"kind": "Deployment", "metadata": {"labels": {"team": "a"}}, "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "ghcr.io/acme/web:1"}]}}}}
}
`

// failingTest asserts what the policy does not do.
const failingTest = `package main_test

import data.main

test_ghcr_denied if {
	count(main.deny) == 1 with input as {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "ghcr.io/acme/web:1"}]}}}}
}
`

const gkTemplate = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sallowedrepos
spec:
  crd:
    spec:
      names:
        kind: K8sAllowedRepos
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8sallowedrepos

        violation[{"msg": msg}] {
          c := input.review.object.spec.template.spec.containers[_]
          not any_prefix(c.image)
          msg := sprintf("container %v image %v is not from an allowed repo", [c.name, c.image])
        }

        any_prefix(image) {
          startswith(image, input.parameters.repos[_])
        }
`

const gkConstraint = `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata:
  name: only-ghcr
spec:
  match:
    kinds:
      - apiGroups: ["apps"]
        kinds: ["Deployment"]
  parameters:
    repos: ["ghcr.io/"]
`

const gkSuite = `apiVersion: test.gatekeeper.sh/v1alpha1
kind: Suite
metadata:
  name: allowed-repos
tests:
  - name: only-ghcr
    template: template.yaml
    constraint: constraint.yaml
    cases:
      - name: ghcr-allowed
        object: samples/ok.yaml
        assertions:
          - violations: no
      - name: quay-denied
        object: samples/bad.yaml
        assertions:
          - violations: 1
            message: not from an allowed repo
`

func policyRepo(t *testing.T, extra map[string]string) string {
	t.Helper()
	files := map[string]string{
		"gate.yaml":                          "environments:\n  - name: prod\n    path: env\n    labels: {tier: production}\n",
		"env/app.yaml":                       "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {team: shop}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: docker.io/nginx:1.27\n",
		"policy/main.rego":                   securityPolicy,
		"policy/main_test.rego":              securityTests,
		"policy/gatekeeper/template.yaml":    gkTemplate,
		"policy/gatekeeper/constraint.yaml":  gkConstraint,
		"policy/gatekeeper/suite.yaml":       gkSuite,
		"policy/gatekeeper/samples/ok.yaml":  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ok}\nspec: {template: {spec: {containers: [{name: a, image: ghcr.io/acme/a:1}]}}}\n",
		"policy/gatekeeper/samples/bad.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec: {template: {spec: {containers: [{name: a, image: quay.io/acme/a:1}]}}}\n",
	}
	for k, v := range extra {
		if v == "" {
			delete(files, k)
			continue
		}
		files[k] = v
	}
	return writeTree(t, files)
}

// TestPolicyTestCLI: `gate policy test` runs the security team's Rego unit
// tests and Gatekeeper suites of the repo's policy/ directory, like opa test
// and gator verify, and fails (exit 1) on a failing test or a policy that
// does not load.
func TestPolicyTestCLI(t *testing.T) {
	t.Run("repo policy directory passes", func(t *testing.T) {
		out, stderr, code := runGate(t, "--repo", policyRepo(t, nil), "policy", "test")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
		}
		for _, w := range []string{
			"PASS  policy/main_test.rego:5 test_docker_hub_denied",
			"PASS  policy/main_test.rego:9 test_ghcr_allowed",
			"PASS  policy/gatekeeper/suite.yaml only-ghcr / ghcr-allowed",
			"PASS  policy/gatekeeper/suite.yaml only-ghcr / quay-denied",
			"\n4 passed, 0 failed\n",
		} {
			if !strings.Contains(out, w) {
				t.Errorf("stdout lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("a failing test fails the command", func(t *testing.T) {
		out, stderr, code := runGate(t, "--repo", policyRepo(t, map[string]string{"policy/wrong_test.rego": failingTest}), "policy", "test")
		if code != 1 {
			t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
		}
		if !strings.Contains(out, "FAIL  policy/wrong_test.rego:5 test_ghcr_denied: test failed") || !strings.Contains(out, "\n4 passed, 1 failed\n") {
			t.Errorf("stdout:\n%s", out)
		}
	})
	t.Run("a failing Gatekeeper case fails the command", func(t *testing.T) {
		out, _, code := runGate(t, "--repo", policyRepo(t, map[string]string{"policy/gatekeeper/samples/bad.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec: {template: {spec: {containers: [{name: a, image: ghcr.io/acme/a:1}]}}}\n"}), "policy", "test")
		if code != 1 || !strings.Contains(out, "FAIL  policy/gatekeeper/suite.yaml only-ghcr / quay-denied") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("a policy calling http.send is refused with file and line", func(t *testing.T) {
		fetch := "package main\n\ndeny contains msg if {\n\tresp := http.send({\"method\": \"GET\", \"url\": \"https://allow.example.com\"})\n\tmsg := resp.body.reason\n}\n"
		out, _, code := runGate(t, "--repo", policyRepo(t, map[string]string{"policy/fetch.rego": fetch}), "policy", "test")
		if code != 1 || !strings.Contains(out, "ERROR policy/fetch.rego:4: error policy/load-error") || !strings.Contains(out, "http.send is not allowed in gate policies") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("--coverage", func(t *testing.T) {
		out, _, code := runGate(t, "--repo", policyRepo(t, nil), "policy", "test", "--coverage")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		// The warn rule has no test: its lines are not covered.
		if !strings.Contains(out, "coverage  71.4%  policy/main.rego  (not covered: lines 10, 11)") {
			t.Errorf("coverage:\n%s", out)
		}
	})
	t.Run("--run filters tests", func(t *testing.T) {
		out, _, code := runGate(t, "--repo", policyRepo(t, nil), "policy", "test", "--run", "ghcr")
		if code != 0 || strings.Contains(out, "test_docker_hub_denied") || !strings.Contains(out, "test_ghcr_allowed") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("explicit directory and json", func(t *testing.T) {
		dir := policyRepo(t, map[string]string{"policy/wrong_test.rego": failingTest})
		out, _, code := runGate(t, "--repo", dir, "policy", "test", "-o", "json", filepath.Join(dir, "policy"))
		if code != 1 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		var rep struct {
			Rego struct {
				Results []struct {
					Name, File, Error string
					Pass              bool
					Line              int
				}
			}
			Suites []struct {
				Test, Case string
				Pass       bool
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		failed := 0
		for _, r := range rep.Rego.Results {
			if !r.Pass {
				failed++
				if r.Name != "test_ghcr_denied" || r.Line != 5 || !strings.HasSuffix(r.File, "policy/wrong_test.rego") || r.Error == "" {
					t.Errorf("failed result: %+v", r)
				}
			}
		}
		if len(rep.Rego.Results) != 3 || failed != 1 || len(rep.Suites) != 2 {
			t.Errorf("report: %+v", rep)
		}
	})
	t.Run("no policy directory is a usage error", func(t *testing.T) {
		dir := policyRepo(t, map[string]string{"policy/main.rego": "", "policy/main_test.rego": "", "policy/gatekeeper/template.yaml": "", "policy/gatekeeper/constraint.yaml": "", "policy/gatekeeper/suite.yaml": "", "policy/gatekeeper/samples/ok.yaml": "", "policy/gatekeeper/samples/bad.yaml": ""})
		_, stderr, code := runGate(t, "--repo", dir, "policy", "test")
		if code != 2 || !strings.Contains(stderr, "no policy directory") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("policies.data and --data are loaded, like conftest verify -d", func(t *testing.T) {
		registries := "package main\n\nimport rego.v1\n\ntest_registry_from_data if data.registries.allowed[_] == \"ghcr.io\"\n"
		files := map[string]string{
			"policy/data_test.rego":  registries,
			"gate.yaml":              "environments:\n  - {name: prod, path: env}\npolicies:\n  data: [config/registries.yaml]\n",
			"config/registries.yaml": "registries:\n  allowed: [ghcr.io]\n",
		}
		out, _, code := runGate(t, "--repo", policyRepo(t, files), "policy", "test")
		if code != 0 || !strings.Contains(out, "PASS  policy/data_test.rego:5 test_registry_from_data") {
			t.Fatalf("gate.yaml's policies.data: exit %d\n%s", code, out)
		}
		files["gate.yaml"] = "environments:\n  - {name: prod, path: env}\n"
		dir := policyRepo(t, files)
		out, _, code = runGate(t, "--repo", dir, "policy", "test")
		if code != 1 || !strings.Contains(out, "FAIL  policy/data_test.rego:5 test_registry_from_data") {
			t.Fatalf("without data the test must fail: exit %d\n%s", code, out)
		}
		out, _, code = runGate(t, "--repo", dir, "policy", "test", "--data", filepath.Join(dir, "config"))
		if code != 0 || !strings.Contains(out, "PASS  policy/data_test.rego:5") {
			t.Fatalf("--data DIR: exit %d\n%s", code, out)
		}
	})
	t.Run("policies.strict: false compiles like conftest without --strict", func(t *testing.T) {
		lenient := "package main\n\nimport rego.v1\n\ntest_lenient if {\n\tunused := 1\n\ttrue\n}\n"
		files := map[string]string{"policy/lenient_test.rego": lenient}
		out, _, code := runGate(t, "--repo", policyRepo(t, files), "policy", "test")
		if code != 1 || !strings.Contains(out, "policy/lenient_test.rego:6") || !strings.Contains(out, "assigned var unused unused") {
			t.Fatalf("strict by default: exit %d\n%s", code, out)
		}
		files["gate.yaml"] = "environments:\n  - {name: prod, path: env}\npolicies: {strict: false}\n"
		out, _, code = runGate(t, "--repo", policyRepo(t, files), "policy", "test")
		if code != 0 || !strings.Contains(out, "PASS  policy/lenient_test.rego:5 test_lenient") {
			t.Fatalf("strict: false: exit %d\n%s", code, out)
		}
	})
	t.Run("--builtin runs the library's own tests", func(t *testing.T) {
		out, _, code := runGate(t, "--repo", policyRepo(t, nil), "policy", "test", "--builtin")
		if code != 0 || !strings.Contains(out, "PASS  builtin:policies/image_tag_pinned/policy_test.rego:") || !strings.Contains(out, "PASS  policy/main_test.rego:5") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
}

// TestPolicyListCLI: the rule ids gate.yaml refers to, from every source:
// the built-in library, the repo's conftest packages, its Gatekeeper
// constraints and --policy directories.
func TestPolicyListCLI(t *testing.T) {
	extra := writeTree(t, map[string]string{"org.rego": "package main\n\nviolation contains \"no\" if input.kind == \"PodSecurityPolicy\"\n"})
	out, stderr, code := runGate(t, "--repo", policyRepo(t, nil), "policy", "list", "--policy", extra)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	for _, w := range []string{"image-tag-pinned ", "service-exposed ", "warning", "K8sAllowedRepos/only-ghcr", "main.deny ", "main.warn ", "main.violation "} {
		if !strings.Contains(out, w) {
			t.Errorf("list lacks %q:\n%s", w, out)
		}
	}
	out, _, code = runGate(t, "--repo", policyRepo(t, nil), "policy", "list", "-o", "json")
	var rules []struct {
		ID       string          `json:"id"`
		Severity checks.Severity `json:"severity"`
		Help     string          `json:"help"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rules) != nil {
		t.Fatalf("exit %d\n%s", code, out)
	}
	byID := map[string]checks.Severity{}
	for _, r := range rules {
		byID[r.ID] = r.Severity
		if strings.Contains(r.ID, "-") && !strings.Contains(r.ID, "/") && r.Help == "" {
			t.Errorf("built-in rule %s has no help", r.ID)
		}
	}
	// The recommended set: hygiene is a warning, what breaks a cluster an error.
	if byID["image-tag-pinned"] != checks.SeverityWarning || byID["no-privileged"] != checks.SeverityError || byID["service-exposed"] != checks.SeverityWarning || byID["main.warn"] != checks.SeverityWarning {
		t.Errorf("severities: %v", byID)
	}
	// A broken repo policy is reported and fails the command.
	out, stderr, code = runGate(t, "--repo", policyRepo(t, map[string]string{"policy/bad.rego": "package main\n\ndeny contains x if {\n"}), "policy", "list")
	if code != 1 || !strings.Contains(stderr, "policy/bad.rego:") || !strings.Contains(out, "image-tag-pinned") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
}

// TestCheckWithPolicyDir: `gate check --policy DIR` adds an organisation's
// policies to the repo's and the built-in library; their findings land on
// the source line.
func TestCheckWithPolicyDir(t *testing.T) {
	extra := writeTree(t, map[string]string{"images.rego": "package main\n\ndeny contains \"nginx is not allowed\" if {\n\tsome c in input.spec.template.spec.containers\n\tcontains(c.image, \"nginx\")\n}\n"})
	repo := policyRepo(t, nil)
	out, stderr, code := runGate(t, "--repo", repo, "check", "--no-schema", "-o", "json", "--policy", extra)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var rep checks.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	msgs := map[string]string{}
	for _, f := range rep.AllFindings() {
		msgs[f.Message] = f.RuleID + " " + f.Origin.String()
	}
	for msg, want := range map[string]string{
		"nginx is not allowed":                                                 "main.deny env/app.yaml:1",
		"container web pulls from Docker Hub":                                  "main.deny env/app.yaml:1",
		"container web image docker.io/nginx:1.27 is not from an allowed repo": "K8sAllowedRepos/only-ghcr env/app.yaml:1",
	} {
		if msgs[msg] != want {
			t.Errorf("%q: got %q, want %q\nall: %v", msg, msgs[msg], want, msgs)
		}
	}
	// The built-in library runs too: the image is pinned, but the container
	// has no resources.
	found := false
	for _, f := range rep.AllFindings() {
		if f.RuleID == "resources-set" {
			found = true
		}
	}
	if !found {
		t.Errorf("built-in library did not run: %v", msgs)
	}
}

// writeBundle writes an OPA bundle archive (opa build's layout).
func writeBundle(t *testing.T, file string, files [][2]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(f[1]))
	}
	_ = tw.Close()
	_ = zw.Close()
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyBundleCLI: an OPA bundle archive works with --policy and with
// gate policy test, like a directory.
func TestPolicyBundleCLI(t *testing.T) {
	bundle := filepath.Join(t.TempDir(), "org.tar.gz")
	writeBundle(t, bundle, [][2]string{
		{".manifest", `{"revision": "7"}`},
		{"/org/policy.rego", "package main\n\nimport data.org.banned\n\ndeny contains msg if {\n\tsome c in input.spec.template.spec.containers\n\tsome b in banned\n\tcontains(c.image, b)\n\tmsg := sprintf(\"%s is banned\", [b])\n}\n"},
		{"/org/policy_test.rego", "package main_test\n\nimport data.main\n\ntest_banned if main.deny[\"nginx is banned\"] with input as {\"spec\": {\"template\": {\"spec\": {\"containers\": [{\"image\": \"nginx:1\"}]}}}}\n"},
		{"/org/data.json", `{"banned": ["nginx"]}`},
	})
	repo := policyRepo(t, nil)
	out, stderr, code := runGate(t, "--repo", repo, "check", "--no-schema", "-o", "json", "--policy", bundle)
	var rep checks.Report
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	found := false
	for _, f := range rep.AllFindings() {
		if f.Message == "nginx is banned" && f.RuleID == "main.deny" && f.Origin.String() == "env/app.yaml:1" {
			found = true
		}
	}
	if !found {
		t.Errorf("bundle policy did not run: %+v", rep.AllFindings())
	}
	out, _, code = runGate(t, "--repo", repo, "policy", "test", bundle)
	if code != 0 || !strings.Contains(out, "org.tar.gz/org/policy_test.rego:5 test_banned") || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestCheckBasePolicyImpact: `gate check --base main` on a branch that
// weakens a policy fails by the base policy and prints what the branch's
// policy would clear, as a section apart from the verdict.
func TestCheckBasePolicyImpact(t *testing.T) {
	r := gittest.New(t)
	r.Write("gate.yaml", "environments:\n  - name: prod\n    path: env\n")
	r.Write("policy/registry.rego", "package main\n\ndeny contains msg if {\n\tsome c in input.spec.template.spec.containers\n\tnot startswith(c.image, \"ghcr.io/\")\n\tmsg := sprintf(\"image %s is not from ghcr.io\", [c.image])\n}\n")
	r.Write("env/app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ghcr.io/acme/web:1\n")
	r.Commit("base")
	r.Git("checkout", "-q", "-b", "pr")
	r.Write("env/app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: docker.io/acme/web:1\n")
	r.Remove("policy/registry.rego")
	r.Commit("pr: move to docker hub and drop the registry policy")

	out, stderr, code := runGate(t, "--repo", r.Dir, "check", "--base", "main", "--no-schema", "-o", "json")
	var rep checks.Report
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	denied := false
	for _, f := range rep.AllFindings() {
		if f.RuleID == "main.deny" && f.Message == "image docker.io/acme/web:1 is not from ghcr.io" && f.Origin.String() == "env/app.yaml:1" {
			denied = true
		}
	}
	if !denied {
		t.Errorf("the base policy did not judge the change: %+v", rep.AllFindings())
	}
	pi := rep.PolicyImpact
	if pi == nil || strings.Join(pi.ChangedFiles, ",") != "policy/registry.rego" || len(pi.Cleared) != 1 || pi.Cleared[0].RuleID != "main.deny" {
		t.Fatalf("policy impact: %+v", pi)
	}
	out, _, _ = runGate(t, "--repo", r.Dir, "check", "--base", "main", "--no-schema")
	if !strings.Contains(out, "policy impact of this change (not part of the verdict): policy/registry.rego") || !strings.Contains(out, "would clear:") {
		t.Errorf("text report:\n%s", out)
	}
}
