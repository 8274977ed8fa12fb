package checks

import "time"

// ReportSchemaVersion versions the JSON report; bump on breaking changes.
const ReportSchemaVersion = "gate.report/v1"

// Report is the outcome of one run over every selected environment. Sinks
// (text, json, sarif, junit, markdown, check runs) only format it.
type Report struct {
	SchemaVersion string `json:"schemaVersion"`
	// Repo is the repo root as given; HeadRev and BaseRev name the revisions.
	HeadRev string      `json:"headRev,omitempty"`
	BaseRev string      `json:"baseRev,omitempty"`
	Envs    []EnvReport `json:"environments"`
	// Findings not tied to one environment (config, policy load errors).
	Findings []Finding `json:"findings,omitempty"`
	// PolicyImpact shows what the pull request's own policy changes would
	// newly flag or clear; it never decides the verdict.
	PolicyImpact *PolicyImpact `json:"policyImpact,omitempty"`
	FailOn       Severity      `json:"failOn"`
	// Checked names the check stages that ran (schema, policy, live). A
	// run without any (gate diff) reports changes, not a verdict: Pass
	// then only says that every environment rendered.
	Checked []string `json:"checked,omitempty"`
	// FailOnScope is which findings the verdict counts: new (the default:
	// findings the base does not have) or all.
	FailOnScope string `json:"failOnScope,omitempty"`
	// Baseline counts findings by state when they were compared with the
	// base revision or a baseline file; nil when they were not.
	Baseline *BaselineSummary `json:"baseline,omitempty"`
	Pass     bool             `json:"pass"`
	Duration time.Duration    `json:"durationNs"`
}

// Verdict reports whether the run checked anything it can pass or fail
// on; without a check stage only render errors can fail it.
func (r *Report) Verdict() bool { return len(r.Checked) > 0 }

// Env status values.
const (
	EnvChecked   = "checked"
	EnvUntouched = "untouched"
)

// EnvReport is one environment's part of the report.
type EnvReport struct {
	Env    Env    `json:"env"`
	Status string `json:"status"`
	// Because lists the changed files that made the environment affected.
	Because []string `json:"because,omitempty"`
	// NotRendered, when set, says why the environment was not rendered in
	// this run (an incremental run whose change does not reach it). Its
	// Resources, Findings and Diff are then empty because nothing was
	// looked at, not because nothing was found.
	NotRendered string    `json:"notRendered,omitempty"`
	Resources   int       `json:"resources"`
	Findings    []Finding `json:"findings"`
	// Fixed are the base's findings this change removes (state fixed):
	// progress, listed so a reviewer sees it, never part of the verdict.
	Fixed []Finding `json:"fixed,omitempty"`
	Diff  *EnvDiff  `json:"diff,omitempty"`
	Live  *EnvDiff  `json:"live,omitempty"`
	// Drift lists live objects that differ from the base rendering.
	Drift    *EnvDiff      `json:"drift,omitempty"`
	Pass     bool          `json:"pass"`
	Duration time.Duration `json:"durationNs"`
}

// Change actions.
const (
	ActionAdded   = "added"
	ActionRemoved = "removed"
	ActionChanged = "changed"
)

// EnvDiff is what changes in one environment between two renderings (base
// and head, or live and head).
type EnvDiff struct {
	Changes []ResourceChange `json:"changes"`
	// ByKind counts changed objects by kind, for the blast-radius table.
	ByKind map[string]int `json:"byKind,omitempty"`
	// SourceFiles are the changed files of the pull request that caused the
	// changes in this environment.
	SourceFiles []string `json:"sourceFiles,omitempty"`
}

// ResourceChange is one object added, removed or changed.
type ResourceChange struct {
	ID     ResourceID    `json:"id"`
	Action string        `json:"action"`
	Fields []FieldChange `json:"fields,omitempty"`
	// Unified is a unified diff of the YAML, with Secret values redacted.
	Unified string `json:"unified,omitempty"`
	Origin  Origin `json:"origin"`
}

// FieldChange is one changed field. Values are rendered as YAML snippets;
// Secret values are replaced by a short hash.
type FieldChange struct {
	Path string `json:"path"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
	// Origin is the line that last set the field at the head (for a
	// removed field, its nearest remaining ancestor, approximate), when the
	// diff was given a Locator.
	Origin *Origin `json:"origin,omitempty"`
}

// PolicyImpact compares the base branch's policies with the pull request's.
type PolicyImpact struct {
	ChangedFiles []string  `json:"changedFiles"`
	NewlyFlagged []Finding `json:"newlyFlagged"`
	Cleared      []Finding `json:"cleared"`
}

// AllFindings returns every finding of the report, sorted.
func (r *Report) AllFindings() []Finding {
	var out []Finding
	out = append(out, r.Findings...)
	for _, e := range r.Envs {
		out = append(out, e.Findings...)
	}
	SortFindings(out)
	return out
}

// Finalize computes pass/fail for every environment and the report.
func (r *Report) Finalize() {
	r.SchemaVersion = ReportSchemaVersion
	r.Pass = !r.Failing(r.Findings)
	r.SummarizeBaseline()
	for i := range r.Envs {
		SortFindings(r.Envs[i].Findings)
		SortFindings(r.Envs[i].Fixed)
		r.Envs[i].Pass = !r.Failing(r.Envs[i].Findings)
		if !r.Envs[i].Pass {
			r.Pass = false
		}
	}
}
