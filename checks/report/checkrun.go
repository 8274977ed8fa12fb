package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
)

// GitHub's limits on a check run's output. Going over them gets a 422, so
// the payload is shaped to fit them, and whatever does not fit is pointed to
// (the full report behind details_url), never silently dropped.
const (
	// MaxOutputChars bounds output.summary and output.text.
	MaxOutputChars = 65535
	// MaxAnnotationsPerRequest bounds output.annotations of one create or
	// update request; more go in further updates, which GitHub appends.
	MaxAnnotationsPerRequest = 50
	// maxAnnotationTitle and maxAnnotationMessage are GitHub's per-annotation limits.
	maxAnnotationTitle   = 255
	maxAnnotationMessage = 64 << 10
)

// Check-run conclusions gate uses.
const (
	ConclusionSuccess   = "success"
	ConclusionFailure   = "failure"
	ConclusionNeutral   = "neutral"
	ConclusionCancelled = "cancelled"
	ConclusionTimedOut  = "timed_out"
)

// CheckRunName is the check-run name of an environment, the name branch
// protection requires ("gate / prod").
func CheckRunName(env string) string { return "gate / " + env }

// CheckRunOutput is the output object of a check run.
type CheckRunOutput struct {
	Title   string
	Summary string
	Text    string
}

// Annotation is one check-run annotation on a source line of the pull
// request. Level is notice, warning or failure.
type Annotation struct {
	Path       string
	StartLine  int
	EndLine    int
	Level      string
	Title      string
	Message    string
	RawDetails string
}

// CheckRun is everything gate sends for one environment: the conclusion,
// the output, and the annotations in batches GitHub accepts.
type CheckRun struct {
	Name       string
	Conclusion string
	Output     CheckRunOutput
	// Batches hold every annotation, at most MaxAnnotationsPerRequest each.
	// The first goes with the completing update, the rest in further updates.
	Batches [][]Annotation
	// Full is the complete markdown report of the environment, never cut;
	// the App serves it behind details_url.
	Full string
	// Cut reports whether the summary or the text points to Full for parts
	// that did not fit.
	Cut bool
}

// CheckRunOptions shape the payload.
type CheckRunOptions struct {
	// DetailsURL is where the full report is served; named in the output
	// when something did not fit.
	DetailsURL string
	// MaxChars overrides MaxOutputChars (tests use small limits).
	MaxChars int
}

// EnvConclusion decides the check-run conclusion of one environment:
// neutral when the pull request does not touch it, failure when the gate
// fails, success otherwise. Report-wide failing findings (a broken gate.yaml)
// fail every environment.
func EnvConclusion(rep *checks.Report, er *checks.EnvReport) string {
	if rep.Failing(er.Findings) || rep.Failing(rep.Findings) {
		if Untouched(er) {
			return ConclusionNeutral
		}
		return ConclusionFailure
	}
	if Untouched(er) {
		return ConclusionNeutral
	}
	return ConclusionSuccess
}

// Untouched reports whether the pull request leaves the environment as it
// was: the engine says so, or the base diff is known and empty.
func Untouched(er *checks.EnvReport) bool {
	if er.Status == checks.EnvUntouched {
		return true
	}
	return er.Diff != nil && len(er.Diff.Changes) == 0
}

// EnvCheckRun builds the check run of one environment of a report.
func EnvCheckRun(rep *checks.Report, er *checks.EnvReport, opt CheckRunOptions) *CheckRun {
	limit := opt.MaxChars
	if limit <= 0 || limit > MaxOutputChars {
		limit = MaxOutputChars
	}
	finds := envFindings(rep, er)
	cr := &CheckRun{Name: CheckRunName(er.Env.Name), Conclusion: EnvConclusion(rep, er)}
	cr.Output.Title = title(cr.Conclusion, finds, er)

	head := summaryHead(rep, er, cr.Conclusion)
	findChunks := append(findingChunks(finds), fixedChunks(er.Fixed)...)
	extra := trailerChunks(rep)
	diffHead, diffChunks := diffChunks(er)

	var full strings.Builder
	full.WriteString(head)
	for _, c := range findChunks {
		full.WriteString(c)
	}
	for _, c := range extra {
		full.WriteString(c)
	}
	full.WriteString(diffHead)
	for _, c := range diffChunks {
		full.WriteString(c)
	}
	cr.Full = full.String()

	var cutS, cutT bool
	cr.Output.Summary, cutS = fit(head, append(findChunks, extra...), limit, opt.DetailsURL, "findings and sections")
	cr.Output.Text, cutT = fit(diffHead, diffChunks, limit, opt.DetailsURL, "resource changes")
	cr.Cut = cutS || cutT
	cr.Batches = batch(annotations(rep, finds))
	return cr
}

// fixedChunks lists the base's findings the pull request removes: progress
// a reviewer should see, never part of the conclusion.
func fixedChunks(fixed []checks.Finding) []string {
	if len(fixed) == 0 {
		return nil
	}
	out := []string{fmt.Sprintf("### Fixed by this pull request (%d)\n\n", len(fixed))}
	for _, f := range fixed {
		out = append(out, "- "+inline(f.String())+"\n")
	}
	return append(out, "\n")
}

// envFindings are the findings that belong on an environment's check run:
// its own and the report-wide ones.
func envFindings(rep *checks.Report, er *checks.EnvReport) []checks.Finding {
	out := make([]checks.Finding, 0, len(er.Findings)+len(rep.Findings))
	out = append(out, er.Findings...)
	out = append(out, rep.Findings...)
	checks.SortFindings(out)
	return out
}

func title(conclusion string, finds []checks.Finding, er *checks.EnvReport) string {
	n := map[checks.Severity]int{}
	compared, fresh := false, 0
	for _, f := range finds {
		if f.Waived == "" {
			n[f.Severity]++
			if f.Baseline != "" {
				compared = true
			}
			if f.Baseline == checks.BaselineNew {
				fresh++
			}
		}
	}
	counts := countText(n)
	if (compared || len(er.Fixed) > 0) && conclusion != ConclusionNeutral {
		counts += fmt.Sprintf(" (%d new", fresh)
		if len(er.Fixed) > 0 {
			counts += fmt.Sprintf(", %d fixed", len(er.Fixed))
		}
		counts += ")"
	}
	switch conclusion {
	case ConclusionFailure:
		return "Blocked: " + counts
	case ConclusionNeutral:
		if counts == "no findings" {
			return "Not affected by this pull request"
		}
		return "Not affected by this pull request (" + counts + " already on the base)"
	}
	changes := 0
	if er.Diff != nil {
		changes = len(er.Diff.Changes)
	}
	if changes > 0 {
		return fmt.Sprintf("Passed: %d resource changes, %s", changes, counts)
	}
	return "Passed: " + counts
}

func countText(n map[checks.Severity]int) string {
	var parts []string
	for _, s := range []checks.Severity{checks.SeverityError, checks.SeverityWarning, checks.SeverityNotice} {
		if n[s] == 0 {
			continue
		}
		name := s.String()
		if n[s] > 1 {
			name += "s"
		}
		parts = append(parts, fmt.Sprintf("%d %s", n[s], name))
	}
	if len(parts) == 0 {
		return "no findings"
	}
	return strings.Join(parts, ", ")
}

func summaryHead(rep *checks.Report, er *checks.EnvReport, conclusion string) string {
	var b strings.Builder
	icon := map[string]string{ConclusionSuccess: "✅", ConclusionFailure: "❌", ConclusionNeutral: "⚪"}[conclusion]
	fmt.Fprintf(&b, "## %s %s: %s\n\n", icon, escape.Markdown(CheckRunName(er.Env.Name)), conclusion)
	e := er.Env
	fmt.Fprintf(&b, "Environment %s at %s (%s", escape.Code(e.Name), escape.Code(e.Path), escape.Markdown(string(e.Kind)))
	if e.KubernetesVersion != "" {
		fmt.Fprintf(&b, ", Kubernetes %s", escape.Markdown(e.KubernetesVersion))
	}
	b.WriteString(")")
	if rep.HeadRev != "" {
		fmt.Fprintf(&b, ", head %s", escape.Code(short(rep.HeadRev)))
	}
	if rep.BaseRev != "" {
		fmt.Fprintf(&b, " against base %s", escape.Code(short(rep.BaseRev)))
	}
	b.WriteString(".\n\n### Blast radius\n\n")
	if er.Status == checks.EnvUntouched && er.Diff == nil && er.Resources == 0 {
		// The engine skipped it: no changed file reaches it.
		b.WriteString("Not rendered: none of the files this pull request changes reach this environment, so it renders as on the base.\n\n")
		return b.String()
	}
	if Untouched(er) {
		b.WriteString("This pull request changes nothing this environment renders.\n\n")
	}
	if len(er.Because) > 0 {
		fmt.Fprintf(&b, "Checked because these changed files reach it: %s.\n\n", codeList(er.Because, 20))
	}
	fmt.Fprintf(&b, "%d resources rendered.", er.Resources)
	if er.Diff == nil {
		b.WriteString(" No base rendering to compare with.\n\n")
	} else {
		var add, chg, rm int
		for _, c := range er.Diff.Changes {
			switch c.Action {
			case checks.ActionAdded:
				add++
			case checks.ActionRemoved:
				rm++
			default:
				chg++
			}
		}
		fmt.Fprintf(&b, " %d added, %d changed, %d removed.\n\n", add, chg, rm)
		if len(er.Diff.ByKind) > 0 {
			b.WriteString("| Kind | Objects changed |\n|---|---:|\n")
			kinds := make([]string, 0, len(er.Diff.ByKind))
			for k := range er.Diff.ByKind {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			for _, k := range kinds {
				fmt.Fprintf(&b, "| %s | %d |\n", cell(k), er.Diff.ByKind[k])
			}
			b.WriteString("\n")
		}
		if len(er.Diff.SourceFiles) > 0 {
			fmt.Fprintf(&b, "Caused by: %s.\n\n", codeList(er.Diff.SourceFiles, 20))
		}
	}
	if er.Live != nil {
		fmt.Fprintf(&b, "Against the live cluster: %d objects would change.\n\n", len(er.Live.Changes))
	}
	if er.Drift != nil && len(er.Drift.Changes) > 0 {
		fmt.Fprintf(&b, "Drift: %d live objects differ from the base rendering.\n\n", len(er.Drift.Changes))
	}
	return b.String()
}

// findingChunks renders the findings table, one chunk per row so the cut,
// when needed, falls between findings.
func findingChunks(finds []checks.Finding) []string {
	if len(finds) == 0 {
		return []string{"### Findings\n\nNo findings.\n\n"}
	}
	out := []string{fmt.Sprintf("### Findings (%d)\n\n| Severity | Rule | Where | Resource | Message |\n|---|---|---|---|---|\n", len(finds))}
	for _, f := range finds {
		sev := f.Severity.String()
		if f.Baseline != "" {
			sev += ", " + f.Baseline
		}
		if f.Waived != "" {
			sev += " (waived: " + f.Waived + ")"
		}
		res := ""
		if f.Resource != nil {
			res = f.Resource.String()
		}
		msg := f.Message
		if f.Path != "" {
			msg = f.Path + ": " + msg
		}
		msg = cell(msg)
		if f.HelpURL != "" {
			msg += " (" + helpLink(f.HelpURL) + ")"
		}
		out = append(out, fmt.Sprintf("| %s | %s | %s | %s | %s |\n", cell(sev), escape.Code(f.RuleID), cell(f.Origin.String()), cell(res), msg))
	}
	out = append(out, "\n")
	return out
}

func trailerChunks(rep *checks.Report) []string {
	pi := rep.PolicyImpact
	if pi == nil {
		return nil
	}
	var b strings.Builder
	b.WriteString("### Policy impact (not part of the verdict)\n\n")
	fmt.Fprintf(&b, "This pull request changes policy files: %s. The verdict above uses the base branch's policies. With the pull request's policies:\n\n", codeList(pi.ChangedFiles, 20))
	out := []string{b.String()}
	for _, f := range pi.NewlyFlagged {
		out = append(out, "- newly flagged: "+inline(f.String())+"\n")
	}
	for _, f := range pi.Cleared {
		out = append(out, "- cleared: "+inline(f.String())+"\n")
	}
	if len(pi.NewlyFlagged)+len(pi.Cleared) == 0 {
		out = append(out, "- no finding would change.\n")
	}
	return append(out, "\n")
}

func diffChunks(er *checks.EnvReport) (string, []string) {
	if er.Diff == nil && er.Status == checks.EnvUntouched {
		return "## Diff\n\nNot rendered: this pull request does not touch this environment.\n", nil
	}
	if er.Diff == nil {
		return "## Diff\n\nNo base revision was rendered, so there is no diff.\n", nil
	}
	if len(er.Diff.Changes) == 0 {
		return "## Diff\n\nNo rendered object changes.\n", nil
	}
	head := fmt.Sprintf("## Diff (%d objects)\n\n", len(er.Diff.Changes))
	out := make([]string, 0, len(er.Diff.Changes))
	for _, c := range er.Diff.Changes {
		var b strings.Builder
		fmt.Fprintf(&b, "### %s %s", c.Action, escape.Code(c.ID.String()))
		if !c.Origin.IsZero() {
			fmt.Fprintf(&b, " (%s)", escape.Markdown(c.Origin.String()))
		}
		b.WriteString("\n\n")
		if c.Unified != "" {
			body := escape.Lines(c.Unified)
			fence := escape.Fence(body)
			fmt.Fprintf(&b, "%sdiff\n%s", fence, body)
			if !strings.HasSuffix(body, "\n") {
				b.WriteString("\n")
			}
			b.WriteString(fence + "\n\n")
		} else {
			for _, fc := range c.Fields {
				fmt.Fprintf(&b, "- %s: %s → %s%s\n", escape.Code(fc.Path), inline(fc.Old), inline(fc.New), escape.Markdown(fieldAt(c, fc)))
			}
			b.WriteString("\n")
		}
		out = append(out, b.String())
	}
	return head, out
}

// fit joins head and chunks within limit characters. When they do not fit,
// it stops at a chunk boundary and says how many were left out and where the
// full report is. It reports whether anything was left out.
func fit(head string, chunks []string, limit int, detailsURL, what string) (string, bool) {
	total := len(head)
	for _, c := range chunks {
		total += len(c)
	}
	if total <= limit {
		return head + strings.Join(chunks, ""), false
	}
	where := "the full report"
	if detailsURL != "" {
		where = "the full report at " + detailsURL
	}
	note := func(left int) string {
		return fmt.Sprintf("\n\n> **Output cut to GitHub's %d-character limit: %d of %d %s are not shown here. Every one is in %s.**\n", limit, left, len(chunks), what, where)
	}
	reserve := len(note(len(chunks))) + 16
	var b strings.Builder
	b.WriteString(cutTo(head, limit-reserve))
	shown := 0
	for _, c := range chunks {
		if b.Len()+len(c) > limit-reserve {
			break
		}
		b.WriteString(c)
		shown++
	}
	b.WriteString(note(len(chunks) - shown))
	return b.String(), true
}

// cutTo shortens s to at most n bytes at a line boundary, marking the cut.
func cutTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "\n[... cut here, see the full report ...]\n"
	if n <= len(mark) {
		return ""
	}
	cut := s[:n-len(mark)]
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i]
	}
	return cut + mark
}

// annotations puts findings on their lines. Compared with the base, an
// existing finding that does not decide the conclusion is a notice that
// says so: the annotations of a pull request are about what it introduces.
func annotations(rep *checks.Report, finds []checks.Finding) []Annotation {
	var out []Annotation
	for _, f := range finds {
		if f.Origin.File == "" {
			continue
		}
		line := f.Origin.Line
		if line <= 0 {
			line = 1
		}
		level := "notice"
		switch f.Severity {
		case checks.SeverityError:
			level = "failure"
		case checks.SeverityWarning:
			level = "warning"
		}
		if f.Waived != "" || (f.Baseline == checks.BaselineExisting && !rep.Decides(f)) {
			level = "notice"
		}
		// Annotation titles and messages are plain text: hidden
		// characters are shown, nothing else is markup.
		t := fmt.Sprintf("%s: %s", f.Severity, f.RuleID)
		if f.Baseline != "" {
			t = fmt.Sprintf("%s %s: %s", f.Baseline, f.Severity, f.RuleID)
		}
		if f.Env != "" {
			t += " (" + f.Env + ")"
		}
		msg := f.Message
		if f.Resource != nil {
			msg = f.Resource.String() + ": " + msg
		}
		if f.Path != "" {
			msg += " (at " + f.Path + ")"
		}
		if f.Origin.Line <= 0 {
			msg += " (line unknown)"
		} else if f.Origin.Approximate {
			msg += " (nearest line: the field is not written on it)"
		}
		if f.Waived != "" {
			msg += " (waived: " + f.Waived + ")"
		}
		a := Annotation{Path: f.Origin.File, StartLine: line, EndLine: line, Level: level, Title: cutRunes(escape.Terminal(t), maxAnnotationTitle), Message: cutRunes(escape.Terminal(msg), maxAnnotationMessage)}
		if f.HelpURL != "" {
			a.RawDetails = "Help: " + f.HelpURL
		}
		out = append(out, a)
	}
	return out
}

func batch(as []Annotation) [][]Annotation {
	var out [][]Annotation
	for len(as) > 0 {
		n := min(len(as), MaxAnnotationsPerRequest)
		out = append(out, as[:n:n])
		as = as[n:]
	}
	return out
}

// cutRunes shortens s to at most n bytes on a rune boundary, with an
// ellipsis, for the per-annotation limits.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := s[:n-3]
	for len(cut) > 0 && cut[len(cut)-1]&0xC0 == 0x80 {
		cut = cut[:len(cut)-1]
	}
	if len(cut) > 0 && cut[len(cut)-1] >= 0xC0 {
		cut = cut[:len(cut)-1]
	}
	return cut + "..."
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// cell is markdown text for a table cell (escape.Markdown escapes "|").
func cell(s string) string { return escape.Markdown(s) }

// inline is markdown text on one line.
func inline(s string) string { return escape.Markdown(s) }

// helpLink is a markdown link to a rule's help page when the URL is a
// plain http(s) address, and the address as code otherwise.
func helpLink(u string) string {
	if (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) && !strings.ContainsAny(u, " ()<>[]`\\\"'") && escape.Terminal(u) == u {
		return "[help](" + u + ")"
	}
	return "help: " + escape.Code(u)
}

func codeList(items []string, max int) string {
	var parts []string
	for i, s := range items {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(items)-max))
			break
		}
		parts = append(parts, escape.Code(s))
	}
	return strings.Join(parts, ", ")
}

// ErrorCheckRun is the check run of an environment (or of the whole run,
// env == "") when gate could not produce a report: it still completes, with
// the reason, so no check run is left in progress.
func ErrorCheckRun(env, conclusion, reason string) *CheckRun {
	name := "gate"
	if env != "" {
		name = CheckRunName(env)
	}
	t := "gate could not check this pull request"
	switch conclusion {
	case ConclusionCancelled:
		t = "Cancelled"
		if strings.HasPrefix(reason, "superseded") {
			t = "Superseded by a newer push"
		}
	case ConclusionTimedOut:
		t = "gate ran out of time"
	}
	body := escape.Lines(cutTo(reason, MaxOutputChars-len(t)-64))
	fence := escape.Fence(body)
	summary := fmt.Sprintf("## %s\n\n%s\n%s\n%s\n", t, fence, body, fence)
	return &CheckRun{Name: name, Conclusion: conclusion, Output: CheckRunOutput{Title: t, Summary: summary}, Full: summary}
}
