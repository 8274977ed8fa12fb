package run

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/report"
)

// Output is one report format and where it goes ("" is stdout).
type Output struct {
	Format string
	Path   string
}

// ParseOutputs reads the report flags check, diff and validate share:
//
//	-o text                         text on stdout (the default, def)
//	-o json --output-file r.json    one format to a file
//	-o text -o sarif=gate.sarif -o junit=junit.xml
//	                                several formats in one run, each to its file
//
// A format without "=PATH" goes to outputFile when given, else stdout;
// "-" is stdout. At most one format may go to stdout. It runs before any
// work is done, so a typo in a format is a usage error, not a lost report
// after a long run.
func ParseOutputs(formats report.Registry, outputs []string, outputFile, def string) ([]Output, error) {
	if len(outputs) == 0 {
		outputs = []string{def}
	}
	var outs []Output
	unpathed := 0
	for _, r := range outputs {
		for _, item := range strings.Split(r, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			format, path, _ := strings.Cut(item, "=")
			format = strings.ToLower(strings.TrimSpace(format))
			f, ok := formats.Lookup(format)
			if !ok {
				return nil, usage("--output %q: unknown format (want %s, optionally FORMAT=PATH)", item, strings.Join(formats.Names(), ", "))
			}
			if path == "-" {
				path = ""
			}
			if path == "" && !strings.Contains(item, "=") {
				unpathed++
			}
			outs = append(outs, Output{Format: f.Name, Path: path})
		}
	}
	if outputFile != "" {
		if unpathed != 1 {
			return nil, usage("--output-file needs exactly one --output format without =PATH (got %d); write several formats with -o FORMAT=PATH", unpathed)
		}
		for i := range outs {
			if outs[i].Path == "" {
				outs[i].Path = outputFile
				break
			}
		}
	}
	return outs, oneToStdout(outs)
}

func oneToStdout(outs []Output) error {
	stdout, seen := 0, map[string]bool{}
	for _, o := range outs {
		if o.Path == "" {
			stdout++
		} else if seen[o.Path] {
			return usage("--output: two formats write to %s", o.Path)
		}
		seen[o.Path] = true
	}
	if stdout > 1 {
		return usage("--output: only one format can go to stdout; give the others a file with FORMAT=PATH")
	}
	return nil
}

// WriteReports writes rep in every output: to stdout (in colour when
// opts.Color), or to its file, whole or not at all (a temporary file
// renamed into place), so a CI step never uploads half a SARIF file.
func WriteReports(formats report.Registry, stdout io.Writer, outs []Output, rep *checks.Report, opts report.Options) error {
	for _, o := range outs {
		if o.Path == "" {
			if err := formats.Write(stdout, o.Format, rep, opts); err != nil {
				return fmt.Errorf("write %s report: %w", o.Format, err)
			}
			continue
		}
		fo := opts
		fo.Color = false
		var buf bytes.Buffer
		if err := formats.Write(&buf, o.Format, rep, fo); err != nil {
			return fmt.Errorf("write %s report: %w", o.Format, err)
		}
		if err := WriteFileAtomic(o.Path, buf.Bytes()); err != nil {
			return fmt.Errorf("write %s report: %w", o.Format, err)
		}
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file renamed
// into place. Special files ($GITHUB_STEP_SUMMARY may be appended to by
// others, /dev/stderr) are written in place.
func WriteFileAtomic(path string, data []byte) error {
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

// DiffFails is gate diff's verdict: an environment that does not render
// (or another error finding) fails it, and with exitCode (--exit-code) so
// does any change.
func DiffFails(rep *checks.Report, exitCode bool) bool {
	for _, e := range rep.Envs {
		if checks.Failing(e.Findings, checks.SeverityError) {
			return true
		}
		if exitCode && e.Diff != nil && len(e.Diff.Changes) > 0 {
			return true
		}
	}
	return checks.Failing(rep.Findings, checks.SeverityError)
}
