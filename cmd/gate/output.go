package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/report"
)

// outputFlags are the report flags shared by check and diff:
//
//	-o text                         text on stdout (the default)
//	-o json --output-file r.json    one format to a file
//	-o text -o sarif=gate.sarif -o junit=junit.xml
//	                                several formats in one run, each to its file
//
// A format without "=PATH" goes to --output-file when given, else stdout;
// "-" is stdout. At most one format may go to stdout.
type outputFlags struct {
	outputs    []string
	outputFile string
	// formats are the formats --output accepts (globals.formats).
	formats report.Registry
}

func addOutputFlags(fs *pflag.FlagSet, o *outputFlags, formats report.Registry) {
	o.formats = formats
	var names []string
	for _, f := range formats.Formats() {
		names = append(names, f.Name+" ("+f.Help+")")
	}
	fs.StringArrayVarP(&o.outputs, "output", "o", nil,
		"report format: "+strings.Join(names, ", ")+"; FORMAT=PATH writes it to a file (repeatable)")
	fs.StringVar(&o.outputFile, "output-file", "", "write the format given without =PATH to this file instead of stdout")
}

func registerOutputCompletion(cmd *cobra.Command, formats report.Registry) {
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats.Names(), cobra.ShellCompDirectiveNoFileComp))
}

// outputSpec is one format and where it goes ("" is stdout).
type outputSpec struct {
	format string
	path   string
}

// parse validates the output flags before any work is done, so a typo in
// a format is a usage error, not a lost report after a long run.
func (o *outputFlags) parse(def string) ([]outputSpec, error) {
	raw := o.outputs
	if len(raw) == 0 {
		raw = []string{def}
	}
	var specs []outputSpec
	unpathed := 0
	for _, r := range raw {
		for _, item := range strings.Split(r, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			format, path, _ := strings.Cut(item, "=")
			format = strings.ToLower(strings.TrimSpace(format))
			f, ok := o.formats.Lookup(format)
			if !ok {
				return nil, usageErr("--output %q: unknown format (want %s, optionally FORMAT=PATH)", item, strings.Join(o.formats.Names(), ", "))
			}
			format = f.Name
			if path == "-" {
				path = ""
			}
			if path == "" && !strings.Contains(item, "=") {
				unpathed++
			}
			specs = append(specs, outputSpec{format: format, path: path})
		}
	}
	if o.outputFile != "" {
		if unpathed != 1 {
			return nil, usageErr("--output-file needs exactly one --output format without =PATH (got %d); write several formats with -o FORMAT=PATH", unpathed)
		}
		for i := range specs {
			if specs[i].path == "" {
				specs[i].path = o.outputFile
				break
			}
		}
	}
	stdout, seen := 0, map[string]bool{}
	for _, s := range specs {
		if s.path == "" {
			stdout++
		} else if seen[s.path] {
			return nil, usageErr("--output: two formats write to %s", s.path)
		}
		seen[s.path] = true
	}
	if stdout > 1 {
		return nil, usageErr("--output: only one format can go to stdout; give the others a file with FORMAT=PATH")
	}
	return specs, nil
}

// writeReports writes rep in every requested format. Each file is written
// whole or not at all (a temporary file renamed into place), so a CI step
// never uploads half a SARIF file.
func (g *globals) writeReports(specs []outputSpec, rep *checks.Report, opts report.Options) error {
	for _, s := range specs {
		o := opts
		if s.path == "" {
			o.Color = opts.Color && !g.noColor && g.isTTY(g.stdout)
			if err := g.formats.Write(g.stdout, s.format, rep, o); err != nil {
				return &exitCodeError{code: exitError, err: fmt.Errorf("write %s report: %w", s.format, err)}
			}
			continue
		}
		o.Color = false
		var buf bytes.Buffer
		if err := g.formats.Write(&buf, s.format, rep, o); err != nil {
			return &exitCodeError{code: exitError, err: fmt.Errorf("write %s report: %w", s.format, err)}
		}
		if err := writeFileAtomic(s.path, buf.Bytes()); err != nil {
			return &exitCodeError{code: exitError, err: fmt.Errorf("write %s report: %w", s.format, err)}
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	// Special files ($GITHUB_STEP_SUMMARY may be appended to by others,
	// /dev/stderr) are written in place.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return os.WriteFile(path, data, 0o644)
	}
	tmp := path + ".gate-tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
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
	cmd := &cobra.Command{
		Use:   "report",
		Short: "About gate's report formats (see gate check --output)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "schema",
		Short: "Print the JSON schema of the json report (" + checks.ReportSchemaVersion + ")",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := g.stdout.Write(report.JSONSchema)
			return err
		},
	})
	return cmd
}
