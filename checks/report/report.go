// Package report formats a checks.Report for the people and tools that
// read it: a terminal (text), programs (json), code scanning (sarif), CI test
// tabs (junit), pull-request comments and job summaries (markdown), and
// GitHub check runs (checkrun.go). Sinks only format: the verdict, the
// findings and the diff are decided by the engine, so every format agrees.
package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks"
)

// Options shape the human formats.
type Options struct {
	// Color turns on ANSI colour in the text format (a TTY without NO_COLOR).
	Color bool
	// Unified includes unified YAML diffs of changed objects in the text
	// format (gate diff); gate check shows the field changes only.
	Unified bool
	// ToolVersion is gate's version, recorded in SARIF.
	ToolVersion string
	// Command names what ran, for the report headings ("gate check").
	Command string
	// URIPrefix is prepended to file paths in SARIF and workflow
	// annotations: the ops repo's
	// directory inside its git repository ("deploy/"), because code
	// scanning resolves paths from the repository root.
	URIPrefix string
	// MaxDiffLines bounds each unified diff in the markdown format (a PR
	// comment is limited to 65,536 characters); 0 means 200.
	MaxDiffLines int
	// MaxChars bounds the diff bodies of the markdown format as a whole;
	// objects past it are listed without their diff. 0 means 50,000.
	MaxChars int
}

// tally counts unwaived findings by severity, and waived ones apart.
type tally struct {
	bySev  map[checks.Severity]int
	waived int
}

func countFindings(fs []checks.Finding) tally {
	t := tally{bySev: map[checks.Severity]int{}}
	for _, f := range fs {
		if f.Waived != "" {
			t.waived++
			continue
		}
		t.bySev[f.Severity]++
	}
	return t
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// String is "1 error, 2 warnings" or "no findings".
func (t tally) String() string {
	var parts []string
	if n := t.bySev[checks.SeverityError]; n > 0 {
		parts = append(parts, plural(n, "error", "errors"))
	}
	if n := t.bySev[checks.SeverityWarning]; n > 0 {
		parts = append(parts, plural(n, "warning", "warnings"))
	}
	if n := t.bySev[checks.SeverityNotice]; n > 0 {
		parts = append(parts, plural(n, "notice", "notices"))
	}
	if t.waived > 0 {
		parts = append(parts, fmt.Sprintf("%d waived", t.waived))
	}
	if len(parts) == 0 {
		return "no findings"
	}
	return strings.Join(parts, ", ")
}

// changeCounts summarises a diff: "2 added, 1 changed".
func changeCounts(d *checks.EnvDiff) string {
	if d == nil {
		return ""
	}
	n := map[string]int{}
	for _, c := range d.Changes {
		n[c.Action]++
	}
	var parts []string
	for _, a := range []string{checks.ActionAdded, checks.ActionChanged, checks.ActionRemoved} {
		if n[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[a], a))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

// kindCounts renders ByKind as "ConfigMap 2, Deployment 1", sorted by kind.
func kindCounts(d *checks.EnvDiff) string {
	if d == nil || len(d.ByKind) == 0 {
		return ""
	}
	kinds := make([]string, 0, len(d.ByKind))
	for k := range d.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, d.ByKind[k])
	}
	return strings.Join(parts, ", ")
}

// notRendered reports whether the run left the environment out (an
// incremental run whose change does not reach it), and why. Reports read
// back from JSON written before EnvReport.NotRendered existed are
// recognised by their shape: untouched, no diff, nothing rendered.
func notRendered(er *checks.EnvReport) (string, bool) {
	if er.NotRendered != "" {
		return er.NotRendered, true
	}
	if er.Status == checks.EnvUntouched && er.Diff == nil && er.Resources == 0 && len(er.Findings) == 0 {
		return "no file of the change reaches it", true
	}
	return "", false
}

// countNotRendered counts the environments the run left out.
func countNotRendered(rep *checks.Report) int {
	n := 0
	for i := range rep.Envs {
		if _, ok := notRendered(&rep.Envs[i]); ok {
			n++
		}
	}
	return n
}

// envUntouched reports whether a base diff exists and the change leaves the
// environment as it was.
func envUntouched(er *checks.EnvReport) bool {
	return er.Status == checks.EnvUntouched || (er.Diff != nil && len(er.Diff.Changes) == 0 && len(er.Because) == 0)
}

func shortRev(rev string) string {
	if len(rev) == 40 {
		return rev[:12]
	}
	return rev
}

func actionMark(action string) string {
	switch action {
	case checks.ActionAdded:
		return "+"
	case checks.ActionRemoved:
		return "-"
	}
	return "~"
}

// changedEnvs counts environments whose rendering differs from the base.
func changedEnvs(rep *checks.Report) int {
	n := 0
	for _, e := range rep.Envs {
		if e.Diff != nil && len(e.Diff.Changes) > 0 {
			n++
		}
	}
	return n
}

// failedEnvs counts environments that fail the gate.
func failedEnvs(rep *checks.Report) int {
	n := 0
	for _, e := range rep.Envs {
		if !e.Pass {
			n++
		}
	}
	return n
}

// fieldAt is where a changed field was set, when that is known (not
// approximate: a generated name's hash, a removed field) and is not the
// line the whole change is shown at: " (set at file:line)", "" otherwise.
// The JSON report has every field's origin.
func fieldAt(c checks.ResourceChange, f checks.FieldChange) string {
	if f.Origin == nil || f.Origin.Approximate || f.Origin.File == "" || f.Origin.String() == c.Origin.String() {
		return ""
	}
	return " (set at " + f.Origin.String() + ")"
}

// fieldLine renders one field change: "path: old → new".
func fieldLine(f checks.FieldChange) string {
	switch {
	case f.Old == "" && f.New != "":
		return fmt.Sprintf("%s: added %s", f.Path, oneLine(f.New))
	case f.New == "" && f.Old != "":
		return fmt.Sprintf("%s: removed (was %s)", f.Path, oneLine(f.Old))
	}
	return fmt.Sprintf("%s: %s → %s", f.Path, oneLine(f.Old), oneLine(f.New))
}

// oneLine keeps field values on one line: multi-line values (a config
// file in a ConfigMap) are summarised; the unified diff has them in full.
func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		first := s[:i]
		if len(first) > 60 {
			first = first[:60] + "…"
		}
		return fmt.Sprintf("%q… (%d lines)", first, strings.Count(strings.TrimSuffix(s, "\n"), "\n")+1)
	}
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// baselineCounts is " (0 new, 15 existing, 1 fixed)" when the findings were
// compared with the base or a baseline file, else "".
func baselineCounts(rep *checks.Report) string {
	b := rep.Baseline
	if b == nil {
		return ""
	}
	against := "the base"
	if b.Against != "base" {
		against = b.Against
	}
	return fmt.Sprintf(" (%d new, %d existing, %d fixed against %s)", b.New, b.Existing, b.Fixed, against)
}

// failsOn is "error" or "error, new findings only" when existing findings
// were compared and do not count.
func failsOn(rep *checks.Report) string {
	if rep.Baseline != nil && rep.FailOnScope != checks.ScopeAll {
		return rep.FailOn.String() + ", new findings only"
	}
	return rep.FailOn.String()
}
