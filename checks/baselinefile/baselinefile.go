// Package baselinefile reads and writes gate's baseline file: the findings
// a repository had when gate was turned on (gate baseline), so a check of
// the work tree, which has no base revision to compare with, judges what
// changed since then. The findings are identified by the fingerprints the
// base comparison uses (checks.FingerprintOf), not by line.
package baselinefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/gate-ops/gate/checks"
)

// DefaultPath is where gate baseline writes and gate check looks, relative
// to the repo root.
const DefaultPath = "gate-baseline.json"

// FormatVersion is the version of the file's layout and of its
// fingerprints; a file of another version is refused, never misread.
const FormatVersion = 1

// File is the baseline file.
type File struct {
	Version int `json:"version"`
	// Comment tells a reader what the file is for.
	Comment  string  `json:"comment,omitempty"`
	Findings []Entry `json:"findings"`
}

// Entry is one finding of the baseline: what identifies it (fingerprint,
// and the message for pairing two findings of one field) and enough for a
// reader and for the "fixed" list (rule, object, where it was).
type Entry struct {
	Fingerprint string             `json:"fingerprint"`
	Check       string             `json:"check"`
	RuleID      string             `json:"ruleId"`
	Severity    checks.Severity    `json:"severity"`
	Env         string             `json:"env,omitempty"`
	Resource    *checks.ResourceID `json:"resource,omitempty"`
	Path        string             `json:"path,omitempty"`
	Message     string             `json:"message"`
	File        string             `json:"file,omitempty"`
	Line        int                `json:"line,omitempty"`
}

const comment = "Findings gate check accepts as existing when it has no base revision to compare with (written by gate baseline; regenerate it, do not edit it)."

// Marshal writes the baseline of findings: every finding with its
// fingerprint, sorted by environment, file and line so a regenerated file
// diffs well.
func Marshal(findings []checks.Finding) ([]byte, error) {
	out := File{Version: FormatVersion, Comment: comment, Findings: []Entry{}}
	for _, f := range findings {
		out.Findings = append(out.Findings, Entry{
			Fingerprint: checks.FingerprintOf(f), Check: f.Check, RuleID: f.RuleID, Severity: f.Severity,
			Env: f.Env, Resource: f.Resource, Path: f.Path, Message: f.Message, File: f.Origin.File, Line: f.Origin.Line,
		})
	}
	sort.SliceStable(out.Findings, func(i, j int) bool {
		a, b := out.Findings[i], out.Findings[j]
		if a.Env != b.Env {
			return a.Env < b.Env
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Fingerprint < b.Fingerprint
	})
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the baseline: %w", err)
	}
	return append(b, '\n'), nil
}

// Parse reads a baseline file. Errors name the file and, for a syntax or
// type error, the line.
func Parse(name string, data []byte) ([]checks.Finding, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("%s:%d: not a baseline file: %w", name, lineAt(data, syn.Offset), err)
		case errors.As(err, &typ):
			return nil, fmt.Errorf("%s:%d: not a baseline file: %w", name, lineAt(data, typ.Offset), err)
		}
		return nil, fmt.Errorf("%s: not a baseline file: %w", name, err)
	}
	if f.Version != FormatVersion {
		return nil, fmt.Errorf("%s:1: baseline version %d, this gate reads version %d: run gate baseline again", name, f.Version, FormatVersion)
	}
	out := make([]checks.Finding, 0, len(f.Findings))
	for i, e := range f.Findings {
		if e.Fingerprint == "" || e.RuleID == "" {
			return nil, fmt.Errorf("%s: finding %d has no fingerprint or ruleId: run gate baseline again", name, i+1)
		}
		out = append(out, checks.Finding{
			Check: e.Check, RuleID: e.RuleID, Severity: e.Severity, Env: e.Env, Resource: e.Resource, Path: e.Path,
			Message: e.Message, Origin: checks.Origin{File: e.File, Line: e.Line}, Fingerprint: e.Fingerprint,
		})
	}
	return out, nil
}

// lineAt is the 1-based line of a byte offset.
func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}
