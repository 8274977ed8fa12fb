package policy

import (
	"fmt"
	"io"
	"strings"

	"github.com/gate-ops/gate/checks/escape"
)

// WriteText writes the report as opa test does: a line per test, the
// coverage of each policy file when asked, and the totals. Every name comes
// from policy files and is escaped for a terminal.
func (rep *TestReport) WriteText(w io.Writer, coverage bool) {
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "ERROR %s\n", escape.Terminal(p.String()))
	}
	pass, fail := 0, 0
	if rep.Rego != nil {
		for _, r := range rep.Rego.Results {
			switch {
			case r.Skip:
				fmt.Fprintf(w, "SKIP  %s:%d %s\n", escape.Terminal(r.File), r.Line, escape.Terminal(r.Name))
			case r.Pass:
				pass++
				fmt.Fprintf(w, "PASS  %s:%d %s (%s)\n", escape.Terminal(r.File), r.Line, escape.Terminal(r.Name), r.Duration.Round(1000))
			default:
				fail++
				fmt.Fprintf(w, "FAIL  %s:%d %s: %s\n", escape.Terminal(r.File), r.Line, escape.Terminal(r.Name), escape.Lines(fmt.Sprint(r.Err)))
			}
		}
	}
	for _, c := range rep.Suites {
		name := strings.Trim(c.Test+" / "+c.Case, " /")
		if c.Pass {
			pass++
			fmt.Fprintf(w, "PASS  %s %s\n", escape.Terminal(c.File), escape.Terminal(name))
		} else {
			fail++
			fmt.Fprintf(w, "FAIL  %s %s: %s\n", escape.Terminal(c.File), escape.Terminal(name), escape.Lines(fmt.Sprint(c.Err)))
		}
	}
	if coverage && rep.Rego != nil {
		fmt.Fprintln(w)
		for _, c := range rep.Rego.Coverage {
			fmt.Fprintf(w, "coverage %5.1f%%  %s", c.Percent, escape.Terminal(c.File))
			if len(c.NotCoveredLines) > 0 {
				fmt.Fprintf(w, "  (not covered: lines %s)", joinInts(c.NotCoveredLines))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "\n%d passed, %d failed", pass, fail)
	if len(rep.Problems) > 0 {
		fmt.Fprintf(w, ", %d policy problem(s)", len(rep.Problems))
	}
	fmt.Fprintln(w)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
