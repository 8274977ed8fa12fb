package policies_test

import (
	"context"
	"path"
	"strings"
	"testing"

	"github.com/gate-ops/gate/policies"
	"github.com/gate-ops/gate/rego"
)

func regoFiles(fs []policies.File) []rego.File {
	out := make([]rego.File, 0, len(fs))
	for _, f := range fs {
		out = append(out, rego.File{Path: policies.Dir + "/" + f.Path, Src: f.Data})
	}
	return out
}

// TestBuiltinUnitTests runs every *_test.rego of the library, like opa test,
// and checks every rule has tests, full coverage of its deny/warn branches
// and both examples.
func TestBuiltinUnitTests(t *testing.T) {
	files := append(regoFiles(policies.Policies()), regoFiles(policies.Tests())...)
	rep, probs := rego.RunTests(context.Background(), files, rego.TestOptions{Coverage: true})
	if len(probs) > 0 {
		t.Fatalf("library does not compile: %v", probs)
	}
	perRule := map[string]int{}
	for _, r := range rep.Results {
		if !r.Pass {
			t.Errorf("%s:%d %s.%s: %s", r.File, r.Line, r.Package, r.Name, r.Err)
		}
		perRule[path.Base(path.Dir(r.File))]++
	}
	examples := map[string][2]bool{}
	for _, e := range policies.Examples() {
		x := examples[e.Rule]
		if e.Allowed {
			x[0] = true
		} else {
			x[1] = true
		}
		examples[e.Rule] = x
	}
	rules := 0
	for _, f := range policies.Policies() {
		dir := path.Dir(f.Path)
		if dir == "lib" {
			continue
		}
		rules++
		if perRule[dir] < 3 {
			t.Errorf("rule %s has %d unit tests, want at least 3", dir, perRule[dir])
		}
		if examples[dir] != [2]bool{true, true} {
			t.Errorf("rule %s lacks an allowed or a denied example", dir)
		}
		if !strings.Contains(string(f.Data), "# custom:\n#   id: ") {
			t.Errorf("rule %s has no METADATA id", dir)
		}
	}
	if rules < 10 {
		t.Fatalf("only %d rules in the library", rules)
	}
	for _, c := range rep.Coverage {
		if c.Percent < 90 {
			t.Errorf("%s: coverage %.0f%%, lines not covered: %v", c.File, c.Percent, c.NotCoveredLines)
		}
	}
}
