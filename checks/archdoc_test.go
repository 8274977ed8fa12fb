package checks_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gate-ops/gate"

// TestArchitectureDocument keeps docs/architecture.md true: every package
// of the module has its line under "## Packages" (a new package fails here
// until the document says what it owns), no line names a package that is
// gone, and every arrow of the diagram is an import between gate's
// packages.
func TestArchitectureDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	doc, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, i := range p.Imports {
			if strings.HasPrefix(i, module+"/") {
				imports[rel] = append(imports[rel], strings.TrimPrefix(i, module+"/"))
			}
		}
		if _, ok := imports[rel]; !ok {
			imports[rel] = nil
		}
	}
	if len(imports) < 20 {
		t.Fatalf("go list found %d packages, want the module's", len(imports))
	}

	text := string(doc)
	_, pkgSection, ok := strings.Cut(text, "\n## Packages\n")
	if !ok {
		t.Fatal(`docs/architecture.md has no "## Packages" section`)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^- `([^`]+)`: \\S").FindAllStringSubmatch(pkgSection, -1) {
		listed[m[1]] = true
	}
	for p := range imports {
		if !listed[p] {
			t.Errorf("package %s is not in docs/architecture.md: add a line saying what it owns", p)
		}
	}
	for p := range listed {
		if _, ok := imports[p]; !ok {
			t.Errorf("docs/architecture.md lists %s, which is not a package of the module", p)
		}
	}

	_, diagram, _ := strings.Cut(text, "```mermaid\n")
	diagram, _, _ = strings.Cut(diagram, "```")
	names := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+)\["([^"]+)"\]`).FindAllStringSubmatch(diagram, -1) {
		names[m[1]] = m[2]
	}
	arrows := regexp.MustCompile(`(?m)^\s*(\w+)(?:\["[^"]+"\])? --> (\w+)`).FindAllStringSubmatch(diagram, -1)
	if len(arrows) < 10 {
		t.Fatalf("the diagram has %d arrows", len(arrows))
	}
	for _, m := range arrows {
		from, to := names[m[1]], names[m[2]]
		if from == "" || to == "" {
			t.Errorf("arrow %s --> %s: a node without a [\"package\"] label", m[1], m[2])
			continue
		}
		if !slices.Contains(imports[from], to) {
			t.Errorf("the diagram's arrow %s --> %s is not an import", from, to)
		}
	}
	// And the converse: every import between the packages the diagram
	// draws is an arrow or a path of arrows, except the vocabulary
	// package's and those of programs and test support (the document says
	// it leaves them out).
	next := map[string][]string{}
	for _, m := range arrows {
		next[names[m[1]]] = append(next[names[m[1]]], names[m[2]])
	}
	for from, tos := range imports {
		if diagramSkips(from) {
			continue
		}
		for _, to := range tos {
			if !diagramSkips(to) && !reaches(next, from, to) {
				t.Errorf("%s imports %s, and no arrow or path of arrows of the diagram says so", from, to)
			}
		}
	}
}

// diagramSkips names the packages whose imports the diagram leaves out.
func diagramSkips(p string) bool {
	return p == "checks" || strings.HasPrefix(p, "cmd/") || strings.HasPrefix(p, "internal/testing/")
}

// reaches reports whether a path of arrows leads from a to b.
func reaches(next map[string][]string, a, b string) bool {
	seen := map[string]bool{a: true}
	queue := []string{a}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, m := range next[n] {
			if m == b {
				return true
			}
			if !seen[m] {
				seen[m] = true
				queue = append(queue, m)
			}
		}
	}
	return false
}
