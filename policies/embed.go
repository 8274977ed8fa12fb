// Package policies is gate's built-in Rego library, embedded in the binary
// so gate judges an ops repo offline. Each rule lives in its own directory:
// policy.rego (package gate.builtin.<rule>, with a METADATA block giving the
// rule id, severity and help), policy_test.rego (its unit tests) and
// allowed.yaml / denied.yaml (examples the tests of checks/policy run through
// the real policy stage). lib/ holds helpers shared by the rules.
package policies

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed lib/*.rego */policy.rego */policy_test.rego */allowed.yaml */denied.yaml
var files embed.FS

// Dir is the prefix built-in files carry in findings, so a finding about a
// built-in rule never looks like a file of the ops repo.
const Dir = "builtin:policies"

// File is one embedded file.
type File struct {
	// Path is relative to the library root ("image_tag_pinned/policy.rego").
	Path string
	Data []byte
}

// Policies returns the policy and library modules (no tests), sorted.
func Policies() []File {
	return list(func(p string) bool { return strings.HasSuffix(p, ".rego") && !strings.HasSuffix(p, "_test.rego") })
}

// Tests returns the Rego unit tests, sorted.
func Tests() []File { return list(func(p string) bool { return strings.HasSuffix(p, "_test.rego") }) }

// Example is a rule's allowed or denied example.
type Example struct {
	Rule    string // the rule directory, e.g. image_tag_pinned
	Allowed bool
	File    File
}

// Examples returns every rule's allowed and denied examples.
func Examples() []Example {
	var out []Example
	for _, f := range list(func(p string) bool { return strings.HasSuffix(p, ".yaml") }) {
		out = append(out, Example{Rule: path.Dir(f.Path), Allowed: path.Base(f.Path) == "allowed.yaml", File: f})
	}
	return out
}

func list(keep func(string) bool) []File {
	var out []File
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !keep(p) {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, File{Path: p, Data: b})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
