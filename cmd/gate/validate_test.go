package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
)

const crdRepo = "../../testdata/schema/crd-repo"

// TestValidateCLI runs `gate validate` the way a user does and checks what
// they see: findings as file:line on stdout, a summary on stderr, and the
// exit code.
func TestValidateCLI(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		notOut   []string
		stderr   string
		outLines int // -1: do not count
	}{
		{
			name: "CRD repo: custom resources breaking their CRD fail with the field path on the patch line",
			args: []string{"--repo", crdRepo, "validate", "--all"},
			code: 1,
			stdout: []string{
				`[dev] overlays/dev/backup-patch.yaml:6: error schema/invalid Backup/shop-dev/orders-db: spec.retentionDays: got string, want integer`,
				`[dev] overlays/dev/backup-patch.yaml:7: error schema/invalid Backup/shop-dev/orders-db: spec.compress: unknown field "compress"`,
				`[dev] overlays/dev/backup-patch.yaml:9: error schema/invalid Backup/shop-dev/orders-db: spec.target.kind: value must be one of 'Deployment', 'StatefulSet'`,
				// prod's kubernetesVersion is 1.34, dev's the default 1.35: each env its own.
				`[prod] overlays/prod/legacy.yaml:14: error schema/removed-api Ingress/shop-prod/shop: extensions/v1beta1 Ingress is not served by Kubernetes 1.34 (removed in 1.22); use apiVersion: networking.k8s.io/v1`,
				`[prod] overlays/prod/legacy.yaml:30: warning schema/deprecated-api Endpoints/shop-prod/external-db: v1 Endpoints is deprecated since Kubernetes 1.33; use apiVersion: discovery.k8s.io/v1`,
				// gate.yaml sets missingSchema: error.
				`[prod] overlays/prod/legacy.yaml:40: error schema/missing-schema Certificate/shop-prod/shop-tls: no schema for cert-manager.io/v1 Certificate: it was not validated`,
				`[prod] overlays/prod/legacy.yaml:52: error schema/invalid Widget/shop-prod/sprocket: spec.size: value must be one of 'small', 'large'`,
			},
			stderr:   "validated 13 resources in 2 environments: 7 errors, 3 warnings",
			outLines: 10,
		},
		{
			name:     "one environment, no env prefix",
			args:     []string{"--repo", crdRepo, "validate", "--env", "dev"},
			code:     1,
			stdout:   []string{"overlays/dev/backup-patch.yaml:6: error schema/invalid"},
			notOut:   []string{"[dev]", "overlays/prod/"},
			stderr:   "validated 3 resources in 1 environment: 3 errors",
			outLines: 3,
		},
		{
			name:     "warnings pass by default",
			args:     []string{"--repo", exampleRepo, "validate", "--all"},
			code:     0,
			stdout:   []string{`[prod] overlays/prod/db-credentials.yaml:2: warning schema/missing-schema SealedSecret/shop-prod/db-credentials`},
			stderr:   "1 warning",
			outLines: 1,
		},
		{
			name:     "--fail-on warning",
			args:     []string{"--repo", exampleRepo, "validate", "--all", "--fail-on", "warning"},
			code:     1,
			stdout:   []string{"warning schema/missing-schema"},
			outLines: 1,
		},
		{
			// Like gate check: without --env, every environment.
			name: "no env is every env", args: []string{"--repo", crdRepo, "validate"}, code: 1,
			stdout:   []string{"[dev] overlays/dev/backup-patch.yaml:6: error schema/invalid", "[prod] overlays/prod/legacy.yaml:52: error schema/invalid"},
			stderr:   "validated 13 resources in 2 environments: 7 errors, 3 warnings",
			outLines: 10,
		},
		{name: "unknown env", args: []string{"--repo", crdRepo, "validate", "--env", "qa"}, code: 2, stderr: `unknown environment "qa"`, outLines: 0},
		{name: "bad --fail-on", args: []string{"--repo", crdRepo, "validate", "--all", "--fail-on", "loud"}, code: 2, stderr: "--fail-on", outLines: 0},
		{name: "args refused", args: []string{"--repo", crdRepo, "validate", "prod"}, code: 2, stderr: "unknown command", outLines: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := runGate(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notOut {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if tc.outLines >= 0 {
				if n := len(strings.Split(strings.TrimSpace(out), "\n")); strings.TrimSpace(out) == "" && tc.outLines != 0 || strings.TrimSpace(out) != "" && n != tc.outLines {
					t.Errorf("stdout has %d lines, want %d:\n%s", n, tc.outLines, out)
				}
			}
		})
	}
}

// TestValidateOffline: every proxy variable points at a closed port, so
// any attempt to fetch a schema would fail; validation still finds the
// same errors because the schemas are in the binary.
func TestValidateOffline(t *testing.T) {
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		t.Setenv(v, "http://127.0.0.1:1")
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	t.Setenv("GOPROXY", "off")
	out, stderr, code := runGate(t, "--repo", crdRepo, "validate", "--env", "dev")
	if code != 1 || !strings.Contains(out, "overlays/dev/backup-patch.yaml:6: error schema/invalid") || !strings.Contains(stderr, "validated 3 resources in 1 environment") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
}

// TestValidatePerEnvVersion: an environment pinned to a Kubernetes version
// gate has no schemas for fails loudly (never "everything skipped"), and a
// kind only newer versions serve is an error in the older environment.
func TestValidatePerEnvVersion(t *testing.T) {
	map134 := `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata:
  name: add-team-label
spec:
  failurePolicy: Fail
  reinvocationPolicy: Never
  matchConstraints:
    resourceRules:
      - apiGroups: ["apps"]
        apiVersions: ["v1"]
        operations: ["CREATE"]
        resources: ["deployments"]
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: "Object{}"
`
	dir := writeTree(t, map[string]string{
		"gate.yaml": `environments:
  - name: old
    path: old
    kubernetesVersion: "1.34"
  - name: new
    path: new
    kubernetesVersion: "1.37"
  - name: ancient
    path: ancient
    kubernetesVersion: "1.20"
`,
		"old/map.yaml":     map134,
		"new/map.yaml":     map134,
		"ancient/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"ancient/.keep":    "",
		"new/.gitkeep":     "",
		"old/.gitkeep":     "",
		"unrelated/README": "not an env\n",
	})
	out, stderr, code := runGate(t, "--repo", dir, "validate", "--all")
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "[old] old/map.yaml:1: error schema/unknown-kind MutatingAdmissionPolicy/add-team-label: admissionregistration.k8s.io/v1 MutatingAdmissionPolicy is not served by Kubernetes 1.34") {
		t.Errorf("1.34 env accepted a 1.36+ kind:\n%s", out)
	}
	if strings.Contains(out, "[new]") {
		t.Errorf("1.37 env has findings:\n%s", out)
	}
	if !strings.Contains(out, "[ancient]") || !strings.Contains(out, "no schemas for Kubernetes 1.20 in this gate (it has 1.34, 1.35, 1.36, 1.37)") {
		t.Errorf("a version without schemas was not reported:\n%s", out)
	}
}

// TestValidateReportFormats: with --output, gate validate writes the same
// report formats as gate check (a SARIF file for code scanning, JSON).
func TestValidateReportFormats(t *testing.T) {
	sarif := filepath.Join(t.TempDir(), "schema.sarif")
	out, stderr, code := runGate(t, "--repo", crdRepo, "validate", "--all", "-o", "json", "-o", "sarif="+sarif)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var rep checks.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, out)
	}
	if rep.Pass || len(rep.Envs) != 2 || rep.Envs[0].Env.Name != "dev" || rep.Envs[0].Pass || rep.Envs[0].Resources != 3 {
		t.Fatalf("report: pass %v, envs %+v", rep.Pass, rep.Envs)
	}
	if rep.Duration <= 0 || len(rep.Checked) != 1 || rep.Checked[0] != "schema" {
		t.Errorf("report: durationNs %d, checked %v; want the run's wall time and the schema stage", rep.Duration, rep.Checked)
	}
	found := false
	for _, f := range rep.AllFindings() {
		if f.RuleID == "schema/invalid" && f.Path == "spec.retentionDays" && f.Origin.String() == "overlays/dev/backup-patch.yaml:6" {
			found = true
		}
	}
	if !found {
		t.Errorf("findings: %v", rep.AllFindings())
	}
	b, err := os.ReadFile(sarif)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Runs) != 1 {
		t.Fatalf("SARIF: %v\n%s", err, b)
	}
	hit := false
	for _, r := range doc.Runs[0].Results {
		for _, l := range r.Locations {
			if r.RuleID == "schema/invalid" && strings.HasSuffix(l.PhysicalLocation.ArtifactLocation.URI, "overlays/dev/backup-patch.yaml") && l.PhysicalLocation.Region.StartLine == 6 {
				hit = true
			}
		}
	}
	if !hit {
		t.Errorf("SARIF lacks the retentionDays error at backup-patch.yaml:6:\n%s", b)
	}
	if _, stderr, code := runGate(t, "--repo", crdRepo, "validate", "--all", "-o", "xml"); code != 2 || !strings.Contains(stderr, `--output "xml"`) {
		t.Errorf("bad format: exit %d %s", code, stderr)
	}
	// Warnings only: the JSON report passes and so does the exit code.
	out, _, code = runGate(t, "--repo", exampleRepo, "validate", "--all", "-o", "json")
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.Pass {
		t.Errorf("example repo: exit %d pass %v", code, rep.Pass)
	}
}
