package rego

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// OPA's type checker compiles the JSON schemas of `# METADATA` `schemas:`
// annotations with a loader that opens any file:// $ref on the host (and
// fetches http(s) ones unless capabilities forbid it): a policy file in a
// pull request, or a ConstraintTemplate rendered from one, could read a
// host file into gate. gate has no schema set to offer, so a schema
// definition must be self-contained: $refs within it (#/...) only.

// checked returns m, or a problem when one of its schema annotations names
// a document outside itself.
func checked(m *ast.Module, f File) (*ast.Module, *Problem) {
	for _, a := range m.Annotations {
		for _, s := range a.Schemas {
			if s.Definition == nil {
				continue
			}
			key, ref, why := externalRef(*s.Definition)
			if ref == "" {
				continue
			}
			line := 0
			if a.Location != nil {
				line = a.Location.Row
			}
			line = lineOf(f.Src, line, ref)
			if line > 0 {
				line += f.LineOffset
			}
			return nil, &Problem{File: f.Path, Line: line, Code: "rego_type_error", Msg: fmt.Sprintf(
				"METADATA schemas: %s %q is not loaded: %s (gate loads no schema from the host or the network; define it inline, with #/ references only)", key, ref, why)}
		}
	}
	return m, nil
}

// externalRef finds, depth first in key order, a reference in a JSON
// schema that would make OPA load another document.
func externalRef(v any) (key, ref, why string) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if s, ok := t[k].(string); ok {
				if w := refReason(k, s); w != "" {
					return k, s, w
				}
				continue
			}
			if k, r, w := externalRef(t[k]); r != "" {
				return k, r, w
			}
		}
	case []any:
		for _, x := range t {
			if k, r, w := externalRef(x); r != "" {
				return k, r, w
			}
		}
	}
	return "", "", ""
}

// refReason says why the string value s of key k names an outside
// document, or "".
func refReason(k, s string) string {
	switch k {
	case "$ref", "$dynamicRef", "$recursiveRef":
		if strings.HasPrefix(s, "#") {
			return ""
		}
	case "$id", "id":
		// An $id with a scheme or a path rebases the #/ refs under it.
		if !strings.ContainsAny(s, ":/\\") && !strings.Contains(s, "..") {
			return ""
		}
	case "$schema":
		if strings.HasPrefix(s, "http://json-schema.org/") || strings.HasPrefix(s, "https://json-schema.org/") {
			return "" // the drafts are built into the loader
		}
	default:
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "it is not a valid URL"
	case u.Scheme != "":
		return "a " + strings.ToLower(u.Scheme) + " URL"
	case u.Host != "":
		return "a network URL"
	}
	return "it names a file"
}

// lineOf finds the first line at or after from (1-based) holding s, within
// the comment block that starts there; from when none does.
func lineOf(src []byte, from int, s string) int {
	if from <= 0 {
		return from
	}
	lines := strings.Split(string(src), "\n")
	for i := from - 1; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "#") {
			break
		}
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	return from
}
