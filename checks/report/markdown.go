package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
)

// Markdown writes the report for a pull-request comment or a GitHub job
// summary: the verdict, a blast-radius table of every environment, then per
// environment its findings and its diff in collapsible <details> blocks.
func Markdown(w io.Writer, rep *checks.Report, opts Options) error {
	bw := bufio.NewWriter(w)
	maxLines := opts.MaxDiffLines
	if maxLines <= 0 {
		maxLines = 200
	}
	// budget bounds the diff bodies so the whole report fits a PR comment
	// (65,536 characters); objects past it are listed, not dropped.
	budget := &mdBudget{left: opts.MaxChars}
	if budget.left <= 0 {
		budget.left = 50000
	}
	writeMDHeader(bw, rep)
	writeMDTable(bw, rep)
	if len(rep.Findings) > 0 {
		fmt.Fprintln(bw, "### Repository")
		fmt.Fprintln(bw)
		for _, f := range rep.Findings {
			writeMDFinding(bw, f)
		}
		fmt.Fprintln(bw)
	}
	for i := range rep.Envs {
		writeMDEnv(bw, &rep.Envs[i], maxLines, budget)
	}

	if pi := rep.PolicyImpact; pi != nil {
		writeMDPolicyImpact(bw, pi)
	}
	return bw.Flush()
}

// writeMDHeader writes the verdict heading and the one-line summary.
func writeMDHeader(bw io.Writer, rep *checks.Report) {
	verdict := "✅ pass"
	if !rep.Pass {
		verdict = "❌ fail"
	}
	if !rep.Verdict() {
		// gate diff: changes, not a verdict (no schema or policy stage ran).
		verdict = "changes (no schema or policy check ran)"
		if !rep.Pass {
			verdict = "❌ render errors"
		}
	}
	all := rep.AllFindings()
	fmt.Fprintf(bw, "## gate: %s\n\n", verdict)
	if rep.BaseRev != "" {
		fmt.Fprintf(bw, "`%s` → `%s` · ", shortRev(rep.BaseRev), shortRev(rep.HeadRev))
	}
	if rep.Verdict() {
		fmt.Fprintf(bw, "%s%s · %d of %d environments fail", countFindings(all), baselineCounts(rep), failedEnvs(rep), len(rep.Envs))
	} else {
		fmt.Fprintf(bw, "%s · %d of %d environments changed", countFindings(all), changedEnvs(rep), len(rep.Envs))
	}
	if n := countNotRendered(rep); n > 0 {
		fmt.Fprintf(bw, " · %d untouched, not rendered", n)
	}
	if rep.Verdict() {
		fmt.Fprintf(bw, " · fails on %s", failsOn(rep))
	}
	fmt.Fprint(bw, "\n\n")
}

// writeMDTable writes the blast-radius table of every environment and
// the note on those an incremental run left out.
func writeMDTable(bw io.Writer, rep *checks.Report) {
	fmt.Fprintln(bw, "| Environment | Result | Findings | Changes | By kind | Caused by |")
	fmt.Fprintln(bw, "|---|---|---|---|---|---|")
	for i := range rep.Envs {
		er := &rep.Envs[i]
		if _, ok := notRendered(er); ok {
			fmt.Fprintf(bw, "| %s | ⏭️ not rendered | – | untouched | – | – |\n", mdCell(er.Env.Name))
			continue
		}
		res := "✅ pass"
		switch {
		case !er.Pass:
			res = "❌ fail"
		case !rep.Verdict():
			res = "rendered"
		}
		changes := "–"
		switch {
		case envUntouched(er):
			changes = "untouched"
		case er.Diff == nil:
		default:
			changes = changeCounts(er.Diff)
		}
		fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s |\n", mdCell(er.Env.Name), res, countFindings(er.Findings), changes,
			mdCell(kindCounts(er.Diff)), mdCodeList(er.Because))
	}
	fmt.Fprintln(bw)
	if countNotRendered(rep) > 0 {
		var notes []string
		for i := range rep.Envs {
			if why, ok := notRendered(&rep.Envs[i]); ok {
				notes = append(notes, escape.Code(rep.Envs[i].Env.Name)+": "+mdText(why))
			}
		}
		fmt.Fprintf(bw, "⏭️ Not rendered in this run (`--all-envs` checks every environment): %s.\n\n", strings.Join(notes, "; "))
	}
}

// writeMDEnv writes one environment's findings and diffs (nothing when
// it has neither).
func writeMDEnv(bw io.Writer, er *checks.EnvReport, maxLines int, budget *mdBudget) {
	hasDiff := er.Diff != nil && len(er.Diff.Changes) > 0
	hasLive := er.Live != nil && len(er.Live.Changes) > 0
	hasDrift := er.Drift != nil && len(er.Drift.Changes) > 0
	if len(er.Findings) == 0 && len(er.Fixed) == 0 && !hasDiff && !hasLive && !hasDrift {
		return
	}
	fmt.Fprintf(bw, "### %s\n\n", mdText(er.Env.Name))
	for _, f := range er.Findings {
		writeMDFinding(bw, f)
	}
	for _, f := range er.Fixed {
		writeMDFinding(bw, f)
	}
	if len(er.Findings)+len(er.Fixed) > 0 {
		fmt.Fprintln(bw)
	}
	if hasDiff {
		writeMDDiff(bw, "Diff against base", er.Diff, maxLines, budget)
	}
	if hasLive {
		writeMDDiff(bw, "Diff against the live cluster", er.Live, maxLines, budget)
	}
	if hasDrift {
		writeMDDiff(bw, "Drift (the live cluster differs from the base)", er.Drift, maxLines, budget)
	}
}

// writeMDPolicyImpact writes what the change's own policy changes would
// flag and clear (never part of the verdict).
func writeMDPolicyImpact(bw io.Writer, pi *checks.PolicyImpact) {
	fmt.Fprintln(bw, "### Policy impact (not part of the verdict)")
	fmt.Fprintln(bw)
	fmt.Fprintf(bw, "This change edits policies (%s). With them, gate would:\n\n", mdCodeList(pi.ChangedFiles))
	for _, f := range pi.NewlyFlagged {
		fmt.Fprint(bw, "- newly flag: ")
		writeMDFinding(bw, f)
	}
	for _, f := range pi.Cleared {
		fmt.Fprint(bw, "- clear: ")
		writeMDFinding(bw, f)
	}
	if len(pi.NewlyFlagged)+len(pi.Cleared) == 0 {
		fmt.Fprintln(bw, "- change nothing.")
	}
	fmt.Fprintln(bw)
}

func mdSeverity(s checks.Severity) string {
	switch s {
	case checks.SeverityError:
		return "❌ error"
	case checks.SeverityWarning:
		return "⚠️ warning"
	case checks.SeverityNotice:
		return "ℹ️ notice"
	}
	return s.String()
}

func writeMDFinding(w io.Writer, f checks.Finding) {
	var b strings.Builder
	b.WriteString("- ")
	b.WriteString(mdSeverity(f.Severity))
	switch f.Baseline {
	case checks.BaselineNew:
		b.WriteString(" **new**")
	case checks.BaselineExisting:
		b.WriteString(" *existing*")
	case checks.BaselineFixed:
		b.WriteString(" ✔️ **fixed**")
	}
	b.WriteString(" ")
	b.WriteString(escape.Code(f.RuleID))
	if f.Resource != nil {
		b.WriteString(" " + escape.Code(f.Resource.String()))
	}
	if s := f.Origin.String(); s != "" {
		b.WriteString(" at " + escape.Code(s))
	}
	b.WriteString(": ")
	b.WriteString(mdText(f.Message))
	if f.HelpURL != "" {
		b.WriteString(" (" + helpLink(f.HelpURL) + ")")
	}
	if f.Waived != "" {
		b.WriteString(" — *waived: " + mdText(f.Waived) + "*")
	}
	fmt.Fprintln(w, b.String())
}

type mdBudget struct{ left int }

func writeMDDiff(w io.Writer, title string, d *checks.EnvDiff, maxLines int, budget *mdBudget) {
	fmt.Fprintf(w, "**%s:** %s (%s)\n\n", title, changeCounts(d), mdText(kindCounts(d)))
	var over []checks.ResourceChange
	for _, c := range d.Changes {
		var b strings.Builder
		loc := ""
		if s := c.Origin.String(); s != "" {
			loc = " from " + s
		}
		fmt.Fprintf(&b, "<details><summary><code>%s %s</code> %s%s</summary>\n\n", actionMark(c.Action), escape.HTML(c.ID.String()), c.Action, escape.HTML(loc))
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "- %s%s\n", escape.Code(fieldLine(f)), escape.HTML(fieldAt(c, f)))
		}
		if len(c.Fields) > 0 {
			b.WriteString("\n")
		}
		if c.Unified != "" {
			lines := strings.Split(strings.TrimSuffix(c.Unified, "\n"), "\n")
			cut := 0
			if len(lines) > maxLines {
				cut = len(lines) - maxLines
				lines = lines[:maxLines]
			}
			body := escape.Lines(strings.Join(lines, "\n"))
			fence := escape.Fence(body)
			fmt.Fprintf(&b, "%sdiff\n%s\n%s\n", fence, body, fence)
			if cut > 0 {
				fmt.Fprintf(&b, "\n*%d more lines not shown; run `gate diff` for the full diff.*\n", cut)
			}
		}
		b.WriteString("\n</details>\n\n")
		if b.Len() > budget.left {
			over = append(over, c)
			budget.left = 0
			continue
		}
		budget.left -= b.Len()
		io.WriteString(w, b.String()) //nolint:errcheck // bufio reports on Flush
	}
	if len(over) > 0 {
		fmt.Fprintf(w, "%d more changed objects, diffs left out to fit a comment (run `gate diff` for all of them):\n\n", len(over))
		for _, c := range over {
			fmt.Fprintf(w, "- %s %s\n", escape.Code(actionMark(c.Action)+" "+c.ID.String()), c.Action)
		}
		fmt.Fprintln(w)
	}
}

// mdText is the one escaping of markdown text from the pull request.
func mdText(s string) string { return escape.Markdown(s) }

func mdCell(s string) string {
	if s == "" {
		return "–"
	}
	return mdText(s)
}

func mdCodeList(items []string) string {
	if len(items) == 0 {
		return "–"
	}
	const max = 5
	var parts []string
	for i, it := range items {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(items)-max))
			break
		}
		parts = append(parts, escape.Code(it))
	}
	return strings.Join(parts, ", ")
}
