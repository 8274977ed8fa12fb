package schema

import (
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
)

// TestKubeconformStrictParity is the table the issue asks for: for each
// kind of case kubeconform's own fixtures cover, what `kubeconform -strict`
// says (from its acceptance tests and issue tracker) and what gate says on
// the same input, rendered through gate's renderer (testdata/schema/kubeconform).
// gate agrees everywhere except where it is deliberately stricter, because
// the API server rejects what kubeconform lets through.
func TestKubeconformStrictParity(t *testing.T) {
	type want struct {
		check, rule, path, msg string
		line                   int
	}
	tests := []struct {
		name string
		// kubeconform is `kubeconform -strict`'s verdict: "valid" or "invalid".
		kubeconform string
		// wants are gate's findings; none means valid.
		wants []want
		note  string
	}{
		{name: "valid", kubeconform: "valid"},
		{name: "extra-property", kubeconform: "invalid", wants: []want{
			{"schema", RuleInvalid, "spec.replicas", `spec.replicas: unknown field "replicas"`, 6},
		}},
		{name: "wrong-type", kubeconform: "invalid", wants: []want{
			{"schema", RuleInvalid, "spec.replicas", "spec.replicas: got string, want integer", 6},
		}},
		{name: "missing-apiversion", kubeconform: "invalid", wants: []want{
			{"schema", RuleInvalid, "", "missing 'apiVersion' key", 1},
		}},
		{name: "missing-kind", kubeconform: "invalid", wants: []want{
			{"schema", RuleInvalid, "", "missing 'kind' key", 1},
		}},
		{name: "duplicate-key", kubeconform: "invalid", note: "gate's renderer refuses duplicate keys when it parses the file, before any schema", wants: []want{
			{"render", "render/invalid-yaml", "", `duplicate key "containers" (first at line 14)`, 17},
		}},
		{name: "label-value-length", kubeconform: "valid", note: "kubeconform issue #364: JSON schemas cannot express label syntax; the API server rejects it, so gate does too", wants: []want{
			{"schema", RuleInvalidMetadata, "metadata.labels.build", "must be no more than 63 bytes", 7},
		}},
		{name: "bad-name", kubeconform: "valid", note: "names are not in the OpenAPI schema; the API server rejects them", wants: []want{
			{"schema", RuleInvalidMetadata, "metadata.name", "a lowercase RFC 1123 subdomain", 4},
		}},
		{name: "null-array", kubeconform: "valid"},
		{name: "null-string", kubeconform: "valid"},
		{name: "generate-name", kubeconform: "valid"},
		{name: "list-valid", kubeconform: "valid"},
		{name: "list-empty", kubeconform: "valid"},
		{name: "list-invalid", kubeconform: "invalid", wants: []want{
			{"schema", RuleInvalid, "spec.replicas", "spec.replicas: got string, want integer", 18},
		}},
		{name: "int-or-string", kubeconform: "valid"},
		{name: "quantity", kubeconform: "valid"},
		{name: "missing-required", kubeconform: "invalid", wants: []want{
			{"schema", RuleInvalid, "spec", `spec: missing required field "selector"`, 5},
			{"schema", RuleInvalid, "spec.template.spec.containers[0]", `missing required field "name"`, 12},
		}},
	}
	st := testStage(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := renderDir(t, "../../testdata/schema", "kubeconform/"+tc.name, "1.35")
			got := append(append([]checks.Finding(nil), res.Findings...), check(t, st, res)...)
			gateVerdict := "valid"
			if checks.Failing(got, checks.SeverityWarning) {
				gateVerdict = "invalid"
			}
			if len(tc.wants) == 0 && gateVerdict != "valid" {
				t.Fatalf("gate says invalid, want valid (kubeconform: %s): %v", tc.kubeconform, got)
			}
			if tc.note == "" && gateVerdict != tc.kubeconform {
				t.Errorf("gate says %s, kubeconform -strict says %s", gateVerdict, tc.kubeconform)
			}
			if len(got) != len(tc.wants) {
				t.Fatalf("got %d findings, want %d:\n%s", len(got), len(tc.wants), join(got))
			}
			for i, w := range tc.wants {
				f := got[i]
				if f.Check != w.check || f.RuleID != w.rule || f.Path != w.path || !strings.Contains(f.Message, w.msg) || f.Origin.Line != w.line || f.Severity != checks.SeverityError {
					t.Errorf("finding %d = %s (check %s, path %q, line %d)\nwant %s %s path %q line %d containing %q", i, f, f.Check, f.Path, f.Origin.Line, w.check, w.rule, w.path, w.line, w.msg)
				}
				if !strings.HasPrefix(f.Origin.File, "kubeconform/"+tc.name+"/") {
					t.Errorf("finding %d is on %s, want the fixture file", i, f.Origin.File)
				}
			}
		})
	}
}

func join(fs []checks.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + " [" + f.Path + "]\n")
	}
	return b.String()
}
