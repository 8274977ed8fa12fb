package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gate-ops/gate/checks"
)

// Format is one output format: what the CLI's --output accepts, its help
// and completion, and what writes it all come from here.
type Format struct {
	Name    string
	Aliases []string
	// Help says who reads it, for flag help.
	Help  string
	Write func(io.Writer, *checks.Report, Options) error
	// RepoPaths: the format's paths are resolved from the git repository's
	// root (code scanning, workflow annotations), so the writer needs
	// Options.URIPrefix when the ops repo is a subdirectory.
	RepoPaths bool
}

// builtin lists gate's formats in the order help text gives them.
// Adding a format is its writer and a func returning its Format in a file
// of its own, and one line here.
func builtin() []Format {
	return []Format{
		{Name: "text", Help: "a terminal", Write: Text},
		{Name: "json", Help: "programs (gate report schema)", Write: func(w io.Writer, r *checks.Report, _ Options) error { return JSON(w, r) }},
		{Name: "sarif", Help: "code scanning", Write: SARIF, RepoPaths: true},
		{Name: "junit", Help: "CI test tabs", Write: func(w io.Writer, r *checks.Report, _ Options) error { return JUnit(w, r) }},
		{Name: "markdown", Aliases: []string{"md"}, Help: "pull-request comments and job summaries", Write: Markdown},
		{Name: "github", Help: "GitHub Actions workflow annotations", Write: GitHubActions, RepoPaths: true},
	}
}

// Registry is a set of output formats, a value: front doors take one
// (Default() unless a test adds its own with With), so no package state
// decides what --output accepts.
type Registry struct {
	formats []Format
}

// Default is the registry of gate's built-in formats.
func Default() Registry { return Registry{formats: builtin()} }

// With returns a copy of r with fs added after r's formats.
func (r Registry) With(fs ...Format) Registry {
	return Registry{formats: append(slices.Clone(r.formats), fs...)}
}

// Formats lists r's formats in help order.
func (r Registry) Formats() []Format { return slices.Clone(r.formats) }

// Names are the names of r's formats, without aliases.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r.formats))
	for _, f := range r.formats {
		out = append(out, f.Name)
	}
	return out
}

// Lookup finds a format by name or alias.
func (r Registry) Lookup(name string) (Format, bool) {
	for _, f := range r.formats {
		if f.Name == name || slices.Contains(f.Aliases, name) {
			return f, true
		}
	}
	return Format{}, false
}

// Write writes rep in format to w.
func (r Registry) Write(w io.Writer, format string, rep *checks.Report, opts Options) error {
	f, ok := r.Lookup(format)
	if !ok {
		return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(r.Names(), ", "))
	}
	return f.Write(w, rep, opts)
}

// FormatNames are the names of the built-in formats, without aliases.
func FormatNames() []string { return Default().Names() }

// Lookup finds a built-in format by name or alias.
func Lookup(name string) (Format, bool) { return Default().Lookup(name) }

// Write writes rep in a built-in format to w.
func Write(w io.Writer, format string, rep *checks.Report, opts Options) error {
	return Default().Write(w, format, rep, opts)
}
