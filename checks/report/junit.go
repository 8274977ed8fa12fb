package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/gate-ops/gate/checks"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties *junitPropsWrap `xml:"properties,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitPropsWrap struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func seconds(ns int64) string { return fmt.Sprintf("%.3f", float64(ns)/1e9) }

// JUnit writes one testsuite per environment, the shape CI test tabs
// (GitLab, Jenkins, Buildkite) show. Each environment has a "renders"
// case, one case per finding (a failure when it fails the gate, passed with
// the message as output when below the threshold, skipped when waived) and
// a "diff against base" case whose output summarises the change (and
// cases for the live diff and drift when the live stage ran). An
// environment an incremental run left out is one skipped case, so no CI
// tab counts it as passed.
func JUnit(w io.Writer, rep *checks.Report) error {
	root := junitSuites{Name: "gate", Time: seconds(int64(rep.Duration))}
	addSuite := func(s junitSuite) {
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Skipped += s.Skipped
		root.Suites = append(root.Suites, s)
	}
	if len(rep.Findings) > 0 {
		s := junitSuite{Name: "repository", Time: seconds(0)}
		for _, f := range rep.Findings {
			addCase(&s, "repository", f, rep)
		}
		addSuite(s)
	}
	for i := range rep.Envs {
		addSuite(junitEnvSuite(rep, &rep.Envs[i]))
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitEnvSuite is one environment's testsuite: its render, findings,
// fixed findings and diffs as cases, or one skipped case when an
// incremental run left it out.
func junitEnvSuite(rep *checks.Report, er *checks.EnvReport) junitSuite {
	s := junitSuite{Name: er.Env.Name, Time: seconds(int64(er.Duration)), Properties: &junitPropsWrap{Props: []junitProp{
		{Name: "path", Value: er.Env.Path},
		{Name: "kind", Value: er.Env.Kind},
		{Name: "resources", Value: fmt.Sprint(er.Resources)},
		{Name: "status", Value: er.Status},
	}}}
	if why, ok := notRendered(er); ok {
		// Left out by an incremental run: a skipped case, never a
		// pass that would claim the environment was checked.
		s.Properties.Props = append(s.Properties.Props, junitProp{Name: "notRendered", Value: why})
		s.Tests, s.Skipped = 1, 1
		s.Cases = []junitCase{{Name: "renders", Classname: er.Env.Name + ".render", File: er.Env.Path, Time: seconds(0),
			Skipped: &junitSkipped{Message: "not rendered: " + why}}}
		return s
	}
	renders := junitCase{Name: "renders", Classname: er.Env.Name + ".render", File: er.Env.Path, Time: seconds(int64(er.Duration)),
		SystemOut: fmt.Sprintf("%s rendered %s", er.Env.Path, plural(er.Resources, "object", "objects"))}
	var renderErrs []string
	for _, f := range er.Findings {
		if f.Check == "render" && f.Severity == checks.SeverityError && f.Waived == "" {
			renderErrs = append(renderErrs, f.String())
		}
	}
	if len(renderErrs) > 0 {
		renders.Failure = &junitFailure{Message: "the environment does not render", Type: "render", Text: strings.Join(renderErrs, "\n")}
		s.Failures++
	}
	s.Tests++
	s.Cases = append(s.Cases, renders)
	for _, f := range er.Findings {
		addCase(&s, er.Env.Name, f, rep)
	}
	for _, f := range er.Fixed {
		addCase(&s, er.Env.Name, f, rep)
	}
	if er.Diff != nil {
		out := junitDiffText(er.Diff)
		if len(er.Because) > 0 {
			out += fmt.Sprintf("caused by: %s\n", strings.Join(er.Because, ", "))
		}
		s.Tests++
		s.Cases = append(s.Cases, junitCase{Name: "diff against base", Classname: er.Env.Name + ".diff", Time: seconds(0), SystemOut: out})
	}
	if er.Live != nil {
		s.Tests++
		s.Cases = append(s.Cases, junitCase{Name: "diff against the live cluster", Classname: er.Env.Name + ".live", Time: seconds(0), SystemOut: junitDiffText(er.Live)})
	}
	if er.Drift != nil {
		s.Tests++
		s.Cases = append(s.Cases, junitCase{Name: "drift from base", Classname: er.Env.Name + ".live", Time: seconds(0), SystemOut: junitDiffText(er.Drift)})
	}
	return s
}

// junitDiffText summarises a diff for a case's output: counts, then one
// line per object and one per changed field.
func junitDiffText(d *checks.EnvDiff) string {
	var b strings.Builder
	b.WriteString(changeCounts(d))
	if k := kindCounts(d); k != "" {
		fmt.Fprintf(&b, " (%s)", k)
	}
	b.WriteString("\n")
	for _, c := range d.Changes {
		fmt.Fprintf(&b, "%s %s %s\n", actionMark(c.Action), c.ID.String(), c.Action)
		for _, fc := range c.Fields {
			fmt.Fprintf(&b, "    %s%s\n", fieldLine(fc), fieldAt(c, fc))
		}
	}
	return b.String()
}

// addCase adds one finding. A finding that does not decide the verdict
// (below the threshold, or existing when the gate fails on new findings
// only) passes with its text as output; the text says new, existing or
// fixed when the run compared findings with a baseline.
func addCase(s *junitSuite, env string, f checks.Finding, rep *checks.Report) {
	name := f.RuleID
	if f.Baseline == checks.BaselineFixed {
		name = "fixed: " + name
	}
	if f.Resource != nil {
		name += " " + f.Resource.String()
	}
	if loc := f.Origin.String(); loc != "" {
		name += " (" + loc + ")"
	}
	check := f.Check
	if check == "" {
		check = "gate"
	}
	c := junitCase{Name: name, Classname: env + "." + check, File: f.Origin.File, Line: f.Origin.Line, Time: seconds(0)}
	text := f.String()
	if f.Baseline != "" {
		text = f.Baseline + ": " + text
	}
	switch {
	case f.Waived != "":
		c.Skipped = &junitSkipped{Message: "waived: " + f.Waived}
		s.Skipped++
	case rep.Decides(f):
		c.Failure = &junitFailure{Message: f.Message, Type: f.Severity.String(), Text: text}
		s.Failures++
	default:
		c.SystemOut = text
	}
	s.Tests++
	s.Cases = append(s.Cases, c)
}
