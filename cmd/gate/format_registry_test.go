package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/report"
)

// TestAddingAFormat: a format is one new file (format_tsv_test.go) plus one
// registry line. Registered, --output parsing accepts it (name and alias,
// to stdout and to a file), flag help and completion list it, and the
// registry's Write writes it; the default registry is untouched (a
// registry is a value, not package state).
func TestAddingAFormat(t *testing.T) {
	formats := report.Default().With(tsvFormat()) // the registry line
	gate := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := executeWith(context.Background(), formats, args, nil, &out, &errb)
		return out.String(), errb.String(), code
	}

	out, stderr, code := gate("--repo", exampleRepo, "check", "--env", "prod", "-o", "tsv")
	if code != exitPass && code != exitFindings {
		t.Fatalf("check -o tsv: exit %d\n%s", code, stderr)
	}
	if !strings.HasPrefix(out, "env\tseverity\trule\torigin\tmessage\n") {
		t.Errorf("check -o tsv did not write tsv:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "r.tsv")
	if _, stderr, code := gate("--repo", exampleRepo, "validate", "--env", "prod", "-o", "tab="+file, "-o", "json"); code != exitPass && code != exitFindings {
		t.Fatalf("validate -o tab=FILE: exit %d\n%s", code, stderr)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.HasPrefix(string(b), "env\tseverity") {
		t.Errorf("validate -o tab=FILE wrote %q, %v", b, err)
	}
	for _, cmd := range []string{"check", "diff", "validate"} {
		out, _, _ := gate(cmd, "--help")
		if !strings.Contains(out, "tsv (spreadsheets)") {
			t.Errorf("gate %s --help does not list tsv:\n%s", cmd, out)
		}
		out, _, _ = gate("__complete", cmd, "--output", "")
		if !strings.Contains(out, "tsv\n") {
			t.Errorf("gate %s --output completion lacks tsv:\n%s", cmd, out)
		}
	}
	var buf bytes.Buffer
	rep := &checks.Report{Findings: []checks.Finding{{RuleID: "r", Severity: checks.SeverityError, Message: "m\twith tab"}}}
	if err := formats.Write(&buf, "tsv", rep, report.Options{}); err != nil || !strings.Contains(buf.String(), "\terror\tr\t") {
		t.Errorf("Registry.Write tsv: %v\n%s", err, buf.String())
	}

	// The default registry, and so gate itself, does not know it.
	if _, ok := report.Lookup("tsv"); ok {
		t.Error("the test's format leaked into report.Default()")
	}
	if _, stderr, code := runGate(t, "--repo", exampleRepo, "check", "-o", "tsv"); code != exitError || !strings.Contains(stderr, `--output "tsv": unknown format`) {
		t.Errorf("gate without the format: exit %d, %s", code, stderr)
	}
}
