package baselinefile

import (
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
)

func TestRoundTripKeepsWhatTheComparisonNeeds(t *testing.T) {
	in := []checks.Finding{
		{Check: "policy", RuleID: "resources-set", Severity: checks.SeverityWarning, Env: "prod",
			Resource: &checks.ResourceID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
			Path:     "spec.template.spec.containers[0].resources", Message: "container c0 has no resources",
			Origin: checks.Origin{File: "app/web.yaml", Line: 14}},
		{Check: "render", RuleID: "render/invalid-yaml", Severity: checks.SeverityError, Env: "dev",
			Message: "bad", Origin: checks.Origin{File: "dev/x.yaml", Line: 3}},
	}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Parse(DefaultPath, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Env != "dev" || out[1].Env != "prod" {
		t.Fatalf("parsed %v, want the two findings sorted by env", out)
	}
	// Compared with the same findings today, every one is existing.
	head := append([]checks.Finding{}, in...)
	if fixed := checks.CompareBaseline(head, out); len(fixed) != 0 {
		t.Errorf("fixed %v, want none", fixed)
	}
	for _, f := range head {
		if f.Baseline != checks.BaselineExisting {
			t.Errorf("%s: %s, want existing", f, f.Baseline)
		}
	}
	if out[1].Fingerprint != checks.FingerprintOf(in[0]) || out[1].Origin.Line != 14 || out[1].Resource.Name != "web" {
		t.Errorf("entry lost its identity: %+v", out[1])
	}
}

func TestParseRefusesWithFileAndLine(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"syntax", "{\n  \"version\": 1,\n  \"findings\": [\n    {,\n", "gate-baseline.json:4: not a baseline file"},
		{"type", "{\n  \"version\": \"one\"\n}\n", "gate-baseline.json:2: not a baseline file"},
		{"unknown field", "{\"version\": 1, \"findngs\": []}", `gate-baseline.json: not a baseline file: json: unknown field "findngs"`},
		{"other version", `{"version": 2, "findings": []}`, "gate-baseline.json:1: baseline version 2, this gate reads version 1"},
		{"no fingerprint", `{"version": 1, "findings": [{"ruleId": "x", "message": "m", "severity": "error", "check": "policy"}]}`, "finding 1 has no fingerprint"},
		{"empty", ``, "gate-baseline.json: not a baseline file: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(DefaultPath, []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
