package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
)

// GitHubActions writes every finding as a workflow command
// (::error file=...,line=...::message), which GitHub Actions turns into an
// annotation on the pull request's source line. Waived findings and notices
// are written as notices so they never look like failures. File paths get
// opts.URIPrefix: Actions resolves them from the repository root, and the
// ops repo may live in a subdirectory.
//
// Compared with a base, the title says whether a finding is new or
// existing; an existing finding that does not decide the verdict is a
// notice, so a pull request's annotations are about what it introduces.
// The base's findings the change fixes are notices without a file (they
// point at lines the change removed), in the run's summary.
func GitHubActions(w io.Writer, rep *checks.Report, opts Options) error {
	all := rep.AllFindings()
	for _, e := range rep.Envs {
		all = append(all, e.Fixed...)
	}
	for _, f := range all {
		level := "notice"
		switch {
		case f.Waived != "":
		case f.Baseline == checks.BaselineFixed:
		case f.Baseline == checks.BaselineExisting && !rep.Decides(f):
		case f.Severity == checks.SeverityError:
			level = "error"
		case f.Severity == checks.SeverityWarning:
			level = "warning"
		}
		var props []string
		if f.Origin.File != "" && f.Baseline != checks.BaselineFixed {
			props = append(props, "file="+ghaProperty(escape.Terminal(opts.URIPrefix+f.Origin.File)))
			if f.Origin.Line > 0 {
				props = append(props, fmt.Sprintf("line=%d", f.Origin.Line))
			}
			if f.Origin.Column > 0 {
				props = append(props, fmt.Sprintf("col=%d", f.Origin.Column))
			}
		}
		title := f.RuleID
		if f.Env != "" {
			title = f.Env + ": " + title
		}
		switch f.Baseline {
		case checks.BaselineExisting:
			title += " (existing " + f.Severity.String() + ", not introduced by this change)"
		case checks.BaselineNew:
			title += " (new)"
		case checks.BaselineFixed:
			title += " (fixed by this change)"
			if s := f.Origin.String(); s != "" {
				title += " was at " + s
			}
		}
		msg := f.Message
		if f.Resource != nil {
			msg = f.Resource.String() + ": " + msg
		}
		if f.Waived != "" {
			msg += " (waived: " + f.Waived + ")"
		}
		// The log that shows these lines is a terminal: hidden characters
		// are shown as escapes (line breaks stay, as %0A) before the
		// workflow-command escaping.
		title, msg = escape.Terminal(title), escape.Lines(msg)
		if f.HelpURL != "" {
			msg += "\n" + escape.Terminal(f.HelpURL)
		}
		props = append(props, "title="+ghaProperty(title))
		if _, err := fmt.Fprintf(w, "::%s %s::%s\n", level, strings.Join(props, ","), ghaData(msg)); err != nil {
			return err
		}
	}
	return nil
}

// ghaData escapes a workflow command's message.
func ghaData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghaProperty escapes a workflow command's property value.
func ghaProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
