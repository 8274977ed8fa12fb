package policies_test

import (
	"context"
	"os"
	"path"
	"regexp"
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

var (
	metaIDRe   = regexp.MustCompile(`(?m)^#   id: (\S+)$`)
	metaSevRe  = regexp.MustCompile(`(?m)^#   severity: (\S+)$`)
	metaHelpRe = regexp.MustCompile(`(?m)^#   - ref: (\S+)$`)
	headingRe  = regexp.MustCompile(`(?m)^## (\S+)$`)
)

// TestHelpPagesExist: every rule's help link (shown on each finding) points
// at a section of policies/README.md named by the rule id, and that section
// states the rule's default severity; the README documents no rule that
// does not exist.
func TestHelpPagesExist(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	locs := headingRe.FindAllStringSubmatchIndex(string(readme), -1)
	for i, l := range locs {
		end := len(readme)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		sections[string(readme[l[2]:l[3]])] = string(readme[l[1]:end])
	}
	ids := map[string]bool{}
	for _, f := range policies.Policies() {
		if path.Dir(f.Path) == "lib" {
			continue
		}
		src := string(f.Data)
		id, sev, help := metaIDRe.FindStringSubmatch(src), metaSevRe.FindStringSubmatch(src), metaHelpRe.FindStringSubmatch(src)
		if id == nil || sev == nil || help == nil {
			t.Errorf("%s: METADATA lacks id, severity or related_resources", f.Path)
			continue
		}
		ids[id[1]] = true
		if want := "https://github.com/gate-ops/gate/blob/main/policies/README.md#" + id[1]; help[1] != want {
			t.Errorf("%s: help %s, want %s", f.Path, help[1], want)
		}
		sec, ok := sections[id[1]]
		if !ok {
			t.Errorf("README.md has no section for %s", id[1])
			continue
		}
		if !strings.Contains(sec, "Severity **"+sev[1]+"**") {
			t.Errorf("README.md section %s does not say its severity is %s", id[1], sev[1])
		}
	}
	for h := range sections {
		if !ids[h] {
			t.Errorf("README.md documents %s, which is not a built-in rule", h)
		}
	}
}
