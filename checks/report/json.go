package report

import (
	_ "embed"
	"encoding/json"
	"io"

	"github.com/gate-ops/gate/checks"
)

// JSONSchema is the JSON schema of the json format (gate.report/v1), the
// contract programs reading gate's output can rely on. It is published with
// the binary so `gate check -o json` consumers can validate what they read.
//
//go:embed report.schema.json
var JSONSchema []byte

// JSON writes the report as indented JSON following JSONSchema. Lists are
// never null, so consumers can iterate without checks.
func JSON(w io.Writer, rep *checks.Report) error {
	out := *rep
	out.SchemaVersion = checks.ReportSchemaVersion
	if out.Envs == nil {
		out.Envs = []checks.EnvReport{}
	}
	envs := make([]checks.EnvReport, len(out.Envs))
	copy(envs, out.Envs)
	for i := range envs {
		if envs[i].Findings == nil {
			envs[i].Findings = []checks.Finding{}
		}
	}
	out.Envs = envs
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if out.Verdict() {
		return enc.Encode(&out)
	}
	// No check stage ran (gate diff): the report lists changes, and a
	// "pass" would read as a verdict nobody gave.
	nv := noVerdict{Report: &out, Envs: make([]noVerdictEnv, len(envs))}
	for i := range envs {
		nv.Envs[i].EnvReport = &envs[i]
	}
	return enc.Encode(&nv)
}

// noVerdict is a report without its pass fields: encoding/json lets the
// shallower, omitted fields win over the embedded ones.
type noVerdict struct {
	*checks.Report
	Pass *bool          `json:"pass,omitempty"`
	Envs []noVerdictEnv `json:"environments"`
}

type noVerdictEnv struct {
	*checks.EnvReport
	Pass *bool `json:"pass,omitempty"`
}
