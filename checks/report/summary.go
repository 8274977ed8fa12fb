package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
)

// Plural says "1 resource", "3 resources".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Summary counts findings by severity: "2 errors, 1 warning", or "no
// findings".
func Summary(fs []checks.Finding) string {
	n := map[checks.Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	if len(fs) == 0 {
		return "no findings"
	}
	out := ""
	for _, s := range []checks.Severity{checks.SeverityError, checks.SeverityWarning, checks.SeverityNotice} {
		if n[s] == 0 {
			continue
		}
		if out != "" {
			out += ", "
		}
		word := s.String()
		if n[s] > 1 {
			word += "s"
		}
		out += fmt.Sprintf("%d %s", n[s], word)
	}
	return out
}

// FindingLines writes findings sorted, one file:line line each, for a
// terminal; with multiEnv each names its environment.
func FindingLines(w io.Writer, finds []checks.Finding, multiEnv bool) {
	checks.SortFindings(finds)
	for _, f := range finds {
		line := f.String()
		if f.Env != "" && multiEnv {
			line = "[" + f.Env + "] " + line
		}
		fmt.Fprintln(w, escape.Terminal(line))
	}
}

// ByRule writes findings counted by rule and severity, most first: what a
// team has to decide about, one line per rule (gate init, gate baseline).
func ByRule(w io.Writer, finds []checks.Finding, indent string) {
	type key struct {
		rule string
		sev  checks.Severity
	}
	n := map[key]int{}
	envs := map[key]map[string]bool{}
	for _, f := range finds {
		k := key{f.RuleID, f.Severity}
		n[k]++
		if envs[k] == nil {
			envs[k] = map[string]bool{}
		}
		if f.Env != "" {
			envs[k][f.Env] = true
		}
	}
	keys := make([]key, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.sev != b.sev {
			return a.sev > b.sev
		}
		if n[a] != n[b] {
			return n[a] > n[b]
		}
		return a.rule < b.rule
	})
	for _, k := range keys {
		names := make([]string, 0, len(envs[k]))
		for e := range envs[k] {
			names = append(names, e)
		}
		sort.Strings(names)
		where := ""
		if len(names) > 0 {
			where = " in " + strings.Join(names, ", ")
		}
		fmt.Fprintf(w, "%s%-7s %-28s %s%s\n", indent, k.sev, escape.Terminal(k.rule), Plural(n[k], "finding"), escape.Terminal(where))
	}
}
