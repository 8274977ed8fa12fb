package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/internal/run"
)

// outputFlags are the report flags of check, diff and validate
// (run.ParseOutputs).
type outputFlags struct {
	outputs    []string
	outputFile string
	// formats are the formats --output accepts (globals.formats).
	formats report.Registry
}

// addOutputFlags binds --output and --output-file on cmd, completing
// --output with the names of formats.
func addOutputFlags(cmd *cobra.Command, o *outputFlags, formats report.Registry) {
	o.formats = formats
	var names []string
	for _, f := range formats.Formats() {
		names = append(names, f.Name+" ("+f.Help+")")
	}
	cmd.Flags().StringArrayVarP(&o.outputs, "output", "o", nil,
		"report format: "+strings.Join(names, ", ")+"; FORMAT=PATH writes it to a file (repeatable)")
	cmd.Flags().StringVar(&o.outputFile, "output-file", "", "write the format given without =PATH to this file instead of stdout")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats.Names(), cobra.ShellCompDirectiveNoFileComp))
}

func (o *outputFlags) parse(def string) ([]run.Output, error) {
	return run.ParseOutputs(o.formats, o.outputs, o.outputFile, def)
}

// writeReports writes rep in every requested format; colour only on a
// terminal, and never with --no-color.
func (g *globals) writeReports(outs []run.Output, rep *checks.Report, opts report.Options) error {
	opts.Color = opts.Color && !g.noColor && g.isTTY(g.stdout)
	return run.WriteReports(g.formats, g.stdout, outs, rep, opts)
}

// progress reports phases of a long run on stderr, on one line that is
// rewritten in place. It is off when stderr is not a terminal (CI logs,
// pipes) and stays silent for the first half second, so fast runs print
// nothing.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	shown bool
}

func (g *globals) newProgress() *progress {
	if !g.isTTY(g.stderr) || g.verbose {
		return nil
	}
	return &progress{w: g.stderr, start: time.Now()}
}

// report is the engine's Progress callback; nil-safe.
func (p *progress) report(msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start)
	if el < 500*time.Millisecond {
		return
	}
	p.shown = true
	fmt.Fprintf(p.w, "\r\x1b[K[%4.1fs] %s", el.Seconds(), msg)
}

// done clears the progress line.
func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// callback returns the engine callback, nil when progress is off.
func (p *progress) callback() func(string) {
	if p == nil {
		return nil
	}
	return p.report
}

// newReportCmd groups helpers about gate's reports: `gate report schema`
// prints the JSON schema of `-o json`, so programs reading reports can
// validate them against the binary that wrote them.
func newReportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "About gate's report formats (see gate check --output)", Args: cobra.NoArgs}
	cmd.AddCommand(g.printCmd("schema", "Print the JSON schema of the json report ("+checks.ReportSchemaVersion+")", report.JSONSchema))
	return cmd
}

// printCmd is a command that prints data on stdout.
func (g *globals) printCmd(use, short string, data []byte) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error {
		_, err := g.stdout.Write(data)
		return err
	}}
}
