package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/report"
)

// This file is what adding an output format takes: a writer and its
// Format. The other half is one registry line: in gate, a line in
// checks/report/formats.go's builtin(); here, where the format is a test's,
// report.Default().With(tsvFormat()) (TestAddingAFormat).

func tsvFormat() report.Format {
	return report.Format{Name: "tsv", Aliases: []string{"tab"}, Help: "spreadsheets", Write: writeTSV}
}

// writeTSV writes one finding a line: env, severity, rule, file:line, message.
func writeTSV(w io.Writer, rep *checks.Report, _ report.Options) error {
	cell := func(s string) string { return strings.NewReplacer("\t", " ", "\n", " ").Replace(escape.Lines(s)) }
	fmt.Fprintln(w, "env\tseverity\trule\torigin\tmessage")
	for _, f := range rep.AllFindings() {
		if _, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", cell(f.Env), f.Severity, cell(f.RuleID), cell(f.Origin.String()), cell(f.Message)); err != nil {
			return err
		}
	}
	return nil
}
