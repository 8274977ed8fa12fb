package report_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/report"
)

func compileSchema(t *testing.T, path string) *jsonschema.Schema {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	url := "file:///" + filepath.Base(path)
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, out []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	return s.Validate(inst)
}

func TestSARIFValidatesAgainstTheSARIF210Schema(t *testing.T) {
	s := compileSchema(t, filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	for name, rep := range map[string]*checks.Report{"example": exampleReport(t), "pair": pairReport(t), "pair-incremental": incrementalReport(t), "states": statesReport(t), "empty": {FailOn: checks.SeverityError, Pass: true}} {
		out := render(t, "sarif", rep, report.Options{ToolVersion: "v1.2.3"})
		if err := validate(t, s, out); err != nil {
			t.Errorf("%s: SARIF invalid: %v", name, err)
		}
	}
	// The schema really rejects what GitHub would reject: a result without a message.
	bad := []byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"gate"}},"results":[{"ruleId":"x","level":"error"}]}]}`)
	if validate(t, s, bad) == nil {
		t.Error("schema accepted a result without a message: the validation is not real")
	}
	// Results land on source lines, with rules carrying help.
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID      string `json:"id"`
						HelpURI string `json:"helpUri"`
						Help    struct{ Text string }
					}
				}
			}
			Results []struct {
				RuleID    string
				Level     string
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(render(t, "sarif", exampleReport(t), report.Options{}), &log); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range log.Runs[0].Results {
		if r.RuleID == "test/prerelease-image" {
			found = true
			loc := r.Locations[0].PhysicalLocation
			if r.Level != "error" || loc.ArtifactLocation.URI != "overlays/dev/kustomization.yaml" || loc.Region.StartLine != 9 {
				t.Errorf("prerelease result = %+v, want an error on overlays/dev/kustomization.yaml:9 (the overlay's images: newTag line)", r)
			}
		}
	}
	if !found {
		t.Error("no test/prerelease-image result")
	}
	for _, r := range log.Runs[0].Tool.Driver.Rules {
		if r.HelpURI == "" || r.Help.Text == "" {
			t.Errorf("rule %s lacks help", r.ID)
		}
	}
}

func TestJSONFollowsItsSchema(t *testing.T) {
	s := compileSchema(t, "report.schema.json")
	for name, rep := range map[string]*checks.Report{"example": exampleReport(t), "pair": pairReport(t), "pair-incremental": incrementalReport(t), "states": statesReport(t), "empty": {}} {
		out := render(t, "json", rep, report.Options{})
		if err := validate(t, s, out); err != nil {
			t.Errorf("%s: JSON report does not follow report.schema.json: %v", name, err)
		}
		var back checks.Report
		if err := json.Unmarshal(out, &back); err != nil || back.SchemaVersion != checks.ReportSchemaVersion {
			t.Errorf("%s: round trip: %v, version %q", name, err, back.SchemaVersion)
		}
	}
	if !bytes.Equal(report.JSONSchema, mustRead(t, "report.schema.json")) {
		t.Error("embedded schema differs from the file")
	}
}

// TestJSONSchemaEnforcesNotRendered: the schema does not only describe
// notRendered, it rejects a report that claims both "not rendered" and a
// result for the environment.
func TestJSONSchemaEnforcesNotRendered(t *testing.T) {
	s := compileSchema(t, "report.schema.json")
	rep := incrementalReport(t)
	for i := range rep.Envs {
		if rep.Envs[i].NotRendered == "" {
			continue
		}
		for name, spoil := range map[string]func(e *checks.EnvReport){
			"checked":   func(e *checks.EnvReport) { e.Status = checks.EnvChecked },
			"resources": func(e *checks.EnvReport) { e.Resources = 3 },
			"diff":      func(e *checks.EnvReport) { e.Diff = &checks.EnvDiff{Changes: []checks.ResourceChange{}} },
			"findings":  func(e *checks.EnvReport) { e.Findings = []checks.Finding{{Check: "x", RuleID: "x", Message: "x"}} },
		} {
			bad := incrementalReport(t)
			spoil(&bad.Envs[i])
			if validate(t, s, render(t, "json", bad, report.Options{})) == nil {
				t.Errorf("schema accepts a not-rendered environment with %s", name)
			}
		}
	}
}
