package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
)

// ANSI colours, used only when Options.Color.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
)

type painter bool

func (p painter) paint(code, s string) string {
	if !p || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (p painter) severity(s checks.Severity) string {
	switch s {
	case checks.SeverityError:
		return p.paint(ansiRed+ansiBold, "error")
	case checks.SeverityWarning:
		return p.paint(ansiYellow, "warning")
	case checks.SeverityNotice:
		return p.paint(ansiBlue, "notice")
	}
	return s.String()
}

func (p painter) verdict(pass bool) string {
	if pass {
		return p.paint(ansiGreen+ansiBold, "PASS")
	}
	return p.paint(ansiRed+ansiBold, "FAIL")
}

// Text writes the terminal report: per environment its verdict, its
// findings as file:line lines editors link, and what the change does to it;
// then the blast radius and the verdict.
func Text(w io.Writer, rep *checks.Report, opts Options) error {
	bw := bufio.NewWriter(w)
	p := painter(opts.Color)
	if rep.BaseRev != "" {
		fmt.Fprintf(bw, "%s %s → %s\n", p.paint(ansiBold, "gate:"), shortRev(rep.BaseRev), shortRev(rep.HeadRev))
	}
	if len(rep.Findings) > 0 {
		fmt.Fprintln(bw, p.paint(ansiBold, "repository"))
		for _, f := range rep.Findings {
			writeTextFinding(bw, p, f)
		}
		fmt.Fprintln(bw)
	}
	for i := range rep.Envs {
		writeTextEnv(bw, p, rep, &rep.Envs[i], opts)
	}
	if rep.BaseRev != "" && len(rep.Envs) > 0 {
		writeTextBlastRadius(bw, p, rep)
	}
	if pi := rep.PolicyImpact; pi != nil {
		writeTextPolicyImpact(bw, p, pi)
	}
	all := rep.AllFindings()
	skipped := ""
	if n := countNotRendered(rep); n > 0 {
		skipped = fmt.Sprintf(", %d untouched and not rendered", n)
	}
	if !rep.Verdict() {
		// Changes, not a verdict: no schema, policy or live stage ran.
		state := "changes only, no schema or policy check ran"
		if !rep.Pass {
			state = p.paint(ansiRed+ansiBold, "FAIL") + ": render errors"
		}
		fmt.Fprintf(bw, "%s %s; %s; %d of %d environments changed%s\n", p.paint(ansiBold, "result:"), state,
			countFindings(all), changedEnvs(rep), len(rep.Envs), skipped)
		return bw.Flush()
	}
	fmt.Fprintf(bw, "%s %s: %s%s; %d of %d environments fail%s (fails on %s)\n", p.paint(ansiBold, "result:"), p.verdict(rep.Pass),
		countFindings(all), baselineCounts(rep), failedEnvs(rep), len(rep.Envs), skipped, failsOn(rep))
	return bw.Flush()
}

// writeTextEnv writes one environment: its verdict line, findings, fixed
// findings and diffs, or one line when an incremental run left it out.
func writeTextEnv(bw io.Writer, p painter, rep *checks.Report, er *checks.EnvReport, opts Options) {
	if why, ok := notRendered(er); ok {
		// Left out by an incremental run: no verdict of its own,
		// nothing was looked at.
		fmt.Fprintf(bw, "%s %s  %s\n\n", p.paint(ansiBold, term(er.Env.Name)), p.paint(ansiDim, term(er.Env.Path)),
			p.paint(ansiDim, "untouched, not rendered: "+term(why)))
		return
	}
	status := p.verdict(er.Pass)
	if !rep.Verdict() && er.Pass {
		// gate diff: nothing was checked, so nothing passed.
		status = p.paint(ansiDim, "rendered")
	}
	size := plural(er.Resources, "resource", "resources")
	if envUntouched(er) {
		status += p.paint(ansiDim, " (untouched)")
	}
	fmt.Fprintf(bw, "%s %s  %s  %s\n", p.paint(ansiBold, term(er.Env.Name)), p.paint(ansiDim, term(er.Env.Path)), size, status)
	for _, f := range er.Findings {
		writeTextFinding(bw, p, f)
	}
	for _, f := range er.Fixed {
		writeTextFinding(bw, p, f)
	}
	if er.Diff != nil && len(er.Diff.Changes) > 0 {
		writeTextDiff(bw, p, "changes", er.Diff, opts.Unified)
		if len(er.Because) > 0 {
			fmt.Fprintf(bw, "  caused by: %s\n", termList(er.Because))
		}
	}
	if er.Live != nil && len(er.Live.Changes) > 0 {
		writeTextDiff(bw, p, "live cluster → head", er.Live, opts.Unified)
	}
	if er.Drift != nil && len(er.Drift.Changes) > 0 {
		writeTextDiff(bw, p, "drift (live differs from base)", er.Drift, opts.Unified)
	}
	fmt.Fprintln(bw)
}

// writeTextBlastRadius writes the table of what the change does to each
// environment and which files caused it.
func writeTextBlastRadius(bw io.Writer, p painter, rep *checks.Report) {
	fmt.Fprintln(bw, p.paint(ansiBold, "blast radius"))
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENV\tCHANGES\tBY KIND\tSOURCE FILES")
	for i := range rep.Envs {
		er := &rep.Envs[i]
		_, skipped := notRendered(er)
		switch {
		case skipped:
			fmt.Fprintf(tw, "  %s\tuntouched (not rendered)\t\t\n", term(er.Env.Name))
		case envUntouched(er):
			fmt.Fprintf(tw, "  %s\tuntouched\t\t\n", term(er.Env.Name))
		case er.Diff == nil:
			fmt.Fprintf(tw, "  %s\tno diff\t\t\n", term(er.Env.Name))
		default:
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", term(er.Env.Name), changeCounts(er.Diff), term(kindCounts(er.Diff)), termList(er.Because))
		}
	}
	tw.Flush() //nolint:errcheck // bufio reports below
	fmt.Fprintln(bw)
}

// writeTextPolicyImpact writes what the change's own policy changes would
// flag and clear (never part of the verdict).
func writeTextPolicyImpact(bw io.Writer, p painter, pi *checks.PolicyImpact) {
	fmt.Fprintf(bw, "%s (not part of the verdict): %s\n", p.paint(ansiBold, "policy impact of this change"), termList(pi.ChangedFiles))
	for _, f := range pi.NewlyFlagged {
		fmt.Fprint(bw, "  would flag: ")
		writeTextFinding(bw, p, f)
	}
	for _, f := range pi.Cleared {
		fmt.Fprint(bw, "  would clear: ")
		writeTextFinding(bw, p, f)
	}
	fmt.Fprintln(bw)
}

func writeTextFinding(w io.Writer, p painter, f checks.Finding) {
	var b strings.Builder
	b.WriteString("  ")
	if s := f.Origin.String(); s != "" {
		b.WriteString(p.paint(ansiCyan, term(s)))
		b.WriteString(": ")
	}
	b.WriteString(p.severity(f.Severity))
	switch f.Baseline {
	case checks.BaselineNew:
		b.WriteString(" " + p.paint(ansiBold, "new"))
	case checks.BaselineExisting:
		b.WriteString(" " + p.paint(ansiDim, "existing"))
	case checks.BaselineFixed:
		b.WriteString(" " + p.paint(ansiGreen, "fixed"))
	}
	b.WriteString(" ")
	b.WriteString(term(f.RuleID))
	if f.Resource != nil {
		b.WriteString(" ")
		b.WriteString(term(f.Resource.String()))
	}
	if f.Path != "" {
		b.WriteString(" ")
		b.WriteString(term(f.Path))
	}
	b.WriteString(": ")
	b.WriteString(term(f.Message))
	if f.Waived != "" {
		b.WriteString(p.paint(ansiDim, " (waived: "+term(f.Waived)+")"))
	}
	fmt.Fprintln(w, b.String())
}

func writeTextDiff(w io.Writer, p painter, title string, d *checks.EnvDiff, unified bool) {
	fmt.Fprintf(w, "  %s: %s (%s)\n", title, changeCounts(d), term(kindCounts(d)))
	for _, c := range d.Changes {
		mark := actionMark(c.Action)
		color := ansiYellow
		switch c.Action {
		case checks.ActionAdded:
			color = ansiGreen
		case checks.ActionRemoved:
			color = ansiRed
		}
		loc := ""
		if s := c.Origin.String(); s != "" {
			loc = "  " + p.paint(ansiDim, term(s))
		}
		fmt.Fprintf(w, "    %s %s %s%s\n", p.paint(color, mark), term(c.ID.String()), c.Action, loc)
		if unified && c.Unified != "" {
			for _, l := range strings.Split(strings.TrimSuffix(c.Unified, "\n"), "\n") {
				l = term(l)
				switch {
				case strings.HasPrefix(l, "+++") || strings.HasPrefix(l, "---"):
					l = p.paint(ansiBold, l)
				case strings.HasPrefix(l, "+"):
					l = p.paint(ansiGreen, l)
				case strings.HasPrefix(l, "-"):
					l = p.paint(ansiRed, l)
				case strings.HasPrefix(l, "@@"):
					l = p.paint(ansiCyan, l)
				}
				fmt.Fprintf(w, "      %s\n", l)
			}
			continue
		}
		for _, f := range c.Fields {
			fmt.Fprintf(w, "        %s\n", term(fieldLine(f)+fieldAt(c, f)))
		}
	}
}

// term is the one escaping of the terminal sink: every string from the
// pull request goes through it.
func term(s string) string { return escape.Terminal(s) }

func termList(items []string) string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = term(it)
	}
	return strings.Join(out, ", ")
}
