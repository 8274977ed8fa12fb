package report

import (
	"fmt"
	"io"
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
}

// Formats lists the output formats in the order help text gives them.
// Adding a format is its writer in a file of its own and one line here.
func Formats() []Format {
	return []Format{
		{Name: "text", Help: "a terminal", Write: Text},
		{Name: "json", Help: "programs (gate report schema)", Write: func(w io.Writer, r *checks.Report, _ Options) error { return JSON(w, r) }},
		{Name: "sarif", Help: "code scanning", Write: SARIF},
		{Name: "junit", Help: "CI test tabs", Write: func(w io.Writer, r *checks.Report, _ Options) error { return JUnit(w, r) }},
		{Name: "markdown", Aliases: []string{"md"}, Help: "pull-request comments and job summaries", Write: Markdown},
		{Name: "github", Help: "GitHub Actions workflow annotations", Write: GitHubActions},
	}
}

// FormatNames are the names of Formats, without aliases.
func FormatNames() []string {
	var out []string
	for _, f := range Formats() {
		out = append(out, f.Name)
	}
	return out
}

// Lookup finds a format by name or alias.
func Lookup(name string) (Format, bool) {
	for _, f := range Formats() {
		if f.Name == name {
			return f, true
		}
		for _, a := range f.Aliases {
			if a == name {
				return f, true
			}
		}
	}
	return Format{}, false
}

// ValidFormat reports whether name is an output format or an alias of one.
func ValidFormat(name string) bool {
	_, ok := Lookup(name)
	return ok
}

// Write writes rep in format to w.
func Write(w io.Writer, format string, rep *checks.Report, opts Options) error {
	f, ok := Lookup(format)
	if !ok {
		return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(FormatNames(), ", "))
	}
	return f.Write(w, rep, opts)
}
