package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// TestRuleMetadata: a repo policy's METADATA sets the rule id and severity
// gate.yaml and findings use; a severity gate does not know is a load
// finding on the METADATA line, never a silent default.
func TestRuleMetadata(t *testing.T) {
	pol := `# METADATA
# title: Org rules
# related_resources:
#   - ref: https://wiki.example.com/k8s-rules
# custom:
#   severity: notice
package main

# METADATA
# custom:
#   id: org-no-default-namespace
#   severity: error
deny_default_ns contains "do not deploy to the default namespace" if input.metadata.namespace == "default"

warn contains "no team label" if not input.metadata.labels.team

# METADATA
# custom:
#   severity: fatal
violation contains "never" if input.kind == "Nope"
`
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\n"
	src := repo(map[string]string{"policy/org.rego": pol, "envs/prod/cm.yaml": cm}, twoEnvs+"policies:\n  builtin: false\n")
	got, load := findingsByEnv(t, src, testOpts())
	if len(load) != 1 || load[0].Origin.String() != "policy/org.rego:17" || !strings.Contains(load[0].Message, "rule violation: custom.severity") {
		t.Fatalf("load: %s", dump(load))
	}
	d := byRule(got["prod"], "org-no-default-namespace")
	if len(d) != 1 || d[0].Severity != checks.SeverityError || d[0].HelpURL != "https://wiki.example.com/k8s-rules" || d[0].Origin.String() != "envs/prod/cm.yaml:1" {
		t.Fatalf("prod: %s", dump(got["prod"]))
	}
	// The package severity applies to the rules without their own.
	w := byRule(got["prod"], "main.warn")
	if len(w) != 2 || w[0].Severity != checks.SeverityNotice {
		t.Fatalf("prod: %s", dump(got["prod"]))
	}
}

// TestEnvDataKubernetesVersion: data.gate.env.kubernetesVersion is the
// version the environment is validated against: its own, else the default
// the caller passes (the newest embedded schemas).
func TestEnvDataKubernetesVersion(t *testing.T) {
	pol := "package main\n\nwarn contains sprintf(\"%s runs Kubernetes %s\", [data.gate.env.name, data.gate.env.kubernetesVersion]) if input.kind == \"Deployment\"\n"
	src := repo(map[string]string{"policy/v.rego": pol}, twoEnvs+"policies:\n  builtin: false\n")
	opts := testOpts()
	opts.DefaultKubernetesVersion = "1.37"
	got, _ := findingsByEnv(t, src, opts)
	if w := byRule(got["dev"], "main.warn"); len(w) != 1 || w[0].Message != "dev runs Kubernetes 1.37" {
		t.Errorf("dev: %s", dump(got["dev"]))
	}
	if w := byRule(got["prod"], "main.warn"); len(w) != 1 || w[0].Message != "prod runs Kubernetes 1.34" {
		t.Errorf("prod: %s", dump(got["prod"]))
	}
}

// TestExceptionForUnknownRule: an exception (or a rules override) naming a
// rule no policy defines waives nothing, and says so on its gate.yaml line;
// ids shaped like a Gatekeeper constraint an environment may render are
// left alone.
func TestExceptionForUnknownRule(t *testing.T) {
	gate := twoEnvs + `exceptions:
  - rule: image-tag-pined
    name: web
    reason: typo in the rule id
    expires: 2099-01-01
  - rule: K8sRequiredLabels/team
    name: web
    reason: a constraint the cluster overlay renders
    expires: 2099-01-01
  - rule: image-tag-pinned
    name: web
    reason: vendor image
    expires: 2099-01-01
`
	src := repo(nil, gate)
	got, load := findingsByEnv(t, src, testOpts())
	if len(load) != 1 || load[0].RuleID != RuleWaiverInvalid || load[0].Severity != checks.SeverityWarning ||
		load[0].Origin.String() != "gate.yaml:10" || !strings.Contains(load[0].Message, `"image-tag-pined" names no rule`) {
		t.Fatalf("load: %s", dump(load))
	}
	// The correct exception still waives.
	if w := byRule(got["dev"], "image-tag-pinned"); len(w) != 1 || w[0].Waived == "" {
		t.Fatalf("dev: %s", dump(got["dev"]))
	}
}

// TestEnvironmentScopeDeadlineGrowsWithTheEnvironment: an
// environment-scoped rule reads every object in one evaluation, so its
// deadline is the per-evaluation one per 1,000 objects; a loop is still
// stopped and reported with the deadline it had.
func TestEnvironmentScopeDeadlineGrowsWithTheEnvironment(t *testing.T) {
	if got := envTimeout(2*time.Second, 10_000); got != 20*time.Second {
		t.Errorf("envTimeout(2s, 10000) = %s", got)
	}
	if got := envTimeout(2*time.Second, 10); got != 2*time.Second {
		t.Errorf("envTimeout(2s, 10) = %s", got)
	}
	loop := `# METADATA
# custom:
#   scope: environment
package main

deny contains msg if {
	some i in numbers.range(1, 100000000)
	i == -1
	msg := "never"
}
`
	src := source.NewMem("worktree", map[string]string{"policy/loop.rego": loop})
	cfg := parseConfig(t, "policies:\n  builtin: false\n")
	opts := testOpts()
	opts.Timeout = 40 * time.Millisecond
	st := mustLoad(t, src, cfg, opts)
	res := syntheticEnv(2500)
	fs := check(t, st, res, nil)
	to := byRule(fs, RuleTimeout)
	if len(to) != 1 || !strings.Contains(to[0].Message, "did not finish within 100ms") {
		t.Fatalf("findings: %s", dump(fs))
	}
}
