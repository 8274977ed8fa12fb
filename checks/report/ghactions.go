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
func GitHubActions(w io.Writer, rep *checks.Report, opts Options) error {
	for _, f := range rep.AllFindings() {
		level := "notice"
		switch {
		case f.Waived != "":
		case f.Severity == checks.SeverityError:
			level = "error"
		case f.Severity == checks.SeverityWarning:
			level = "warning"
		}
		var props []string
		if f.Origin.File != "" {
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
