package run

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
)

// InitPlan is what gate init found in a repo.
type InitPlan struct {
	file        string
	envs        []checks.Env
	envFinds    []checks.Finding
	declare     bool // write the environments (false: an Argo CD repo keeps discovery)
	kubeVersion string
	policyDirs  []countedDir
	crdDirs     []countedDir
	crdSkipped  []countedDir // next to other YAML: read from the renderings only
}

type countedDir struct {
	dir string
	n   int
}

func PlanInit(src source.Source, file string) *InitPlan {
	p := &InitPlan{file: file, kubeVersion: schema.DefaultKubernetesVersion()}
	p.envs, p.envFinds = render.Discover(src, &config.Config{})
	p.declare = len(p.envs) > 0
	for _, e := range p.envs {
		// Applications are found by reading the sync tool's objects on
		// every run; declaring their paths would render them as plain
		// kustomizations.
		if e.Kind == "argocd" {
			p.declare = false
		}
	}
	rego := map[string]int{}
	crds := map[string]int{}
	// schemas.paths directories are read recursively and may hold only
	// CRDs (and JSON schemas): a directory with any other YAML below it
	// (a kustomization that renders its CRDs, values) is not listed.
	mixed := map[string]bool{}
	_ = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "vendor") {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".rego") && !strings.HasSuffix(p, "_test.rego"):
			rego[path.Dir(p)]++
		case strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml"):
			n, only := countCRDs(src, p)
			if n > 0 {
				crds[path.Dir(p)] += n
			}
			if !only {
				for d := path.Dir(p); ; d = path.Dir(d) {
					mixed[d] = true
					if d == "." {
						break
					}
				}
			}
		}
		return nil
	})
	p.policyDirs = topDirs(rego)
	listed := map[string]int{}
	for d, n := range crds {
		if mixed[d] {
			p.crdSkipped = append(p.crdSkipped, countedDir{dir: d, n: n})
		} else {
			listed[d] = n
		}
	}
	sort.Slice(p.crdSkipped, func(i, j int) bool { return p.crdSkipped[i].dir < p.crdSkipped[j].dir })
	p.crdDirs = topDirs(listed)
	return p
}

var (
	crdKindLine = regexp.MustCompile(`(?m)^kind:[ \t]*["']?CustomResourceDefinition["']?[ \t]*(#.*)?\r?$`)
	anyKindLine = regexp.MustCompile(`(?m)^kind:`)
)

// countCRDs counts the top-level "kind: CustomResourceDefinition" lines of
// a YAML file, and says whether they are all it holds (every top-level
// kind is one): a cheap look, no parse (the schema stage parses with
// limits and reports what it cannot read).
func countCRDs(src source.Source, p string) (n int, only bool) {
	b, err := src.ReadFile(p)
	if err != nil {
		return 0, false
	}
	n = len(crdKindLine.FindAll(b, -1))
	return n, n > 0 && n == len(anyKindLine.FindAll(b, -1))
}

// topDirs folds directories into their topmost listed ancestor (policy
// and schema paths are read recursively), counting what each holds.
func topDirs(m map[string]int) []countedDir {
	dirs := make([]string, 0, len(m))
	for d := range m {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	var out []countedDir
	for _, d := range dirs {
		if n := len(out); n > 0 {
			last := out[n-1].dir
			if last == "." || strings.HasPrefix(d, last+"/") {
				out[n-1].n += m[d]
				continue
			}
		}
		out = append(out, countedDir{dir: d, n: m[d]})
	}
	return out
}

var plainYAML = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9._/-]*$`)

// YAMLString writes s as a YAML scalar: plain when it cannot read as
// anything but a string, else double-quoted (Go's escapes are YAML's).
func YAMLString(s string) string {
	switch strings.ToLower(s) {
	case "", "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~":
		return strconv.Quote(s)
	}
	if plainYAML.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

// YAML is the gate.yaml of the plan, commented with what was found.
func (p *InitPlan) YAML() []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	fmt.Fprintf(w, "# gate.yaml, written by gate init: what gate found in this repo. Edit it; the\n")
	fmt.Fprintf(w, "# reference is `gate config schema` and the README.\n")
	fmt.Fprintf(w, "# yaml-language-server: $schema=https://raw.githubusercontent.com/gate-ops/gate/main/checks/config/gate.schema.json\n")
	fmt.Fprintf(w, "apiVersion: gate/v1\n")
	fmt.Fprintf(w, "defaults:\n")
	fmt.Fprintf(w, "  # The newest Kubernetes version gate has schemas for: set the version your\n")
	fmt.Fprintf(w, "  # clusters run (here, or per environment).\n")
	fmt.Fprintf(w, "  kubernetesVersion: %q\n", p.kubeVersion)
	switch {
	case len(p.envs) == 0:
		fmt.Fprintf(w, "# No environment found (no kustomization, chart, Flux cluster or Argo CD\n")
		fmt.Fprintf(w, "# Application). Declare them:\n")
		fmt.Fprintf(w, "# environments:\n#   - name: prod\n#     path: overlays/prod\n")
	case p.declare:
		fmt.Fprintf(w, "# The environments gate found, and why. Without this list gate discovers\n")
		fmt.Fprintf(w, "# them on every run (a new overlay then joins on its own).\n")
		fmt.Fprintf(w, "environments:\n")
		for _, e := range p.envs {
			fmt.Fprintf(w, "  # %s: %s\n", escape.Comment(e.Kind), escape.Comment(e.Reason))
			fmt.Fprintf(w, "  - name: %s\n    path: %s\n", YAMLString(e.Name), YAMLString(e.Path))
		}
	default:
		fmt.Fprintf(w, "# Environments are discovered on every run (Argo CD Applications are read from\n")
		fmt.Fprintf(w, "# the repo each time). Found now:\n")
		for _, e := range p.envs {
			fmt.Fprintf(w, "#   %s (%s %s): %s\n", escape.Comment(e.Name), escape.Comment(e.Kind), escape.Comment(e.Path), escape.Comment(e.Reason))
		}
	}
	fmt.Fprintf(w, "policies:\n")
	fmt.Fprintf(w, "  # recommended: what breaks a sync or a cluster is an error, hygiene a\n")
	fmt.Fprintf(w, "  # warning (policies/README.md); strict: every built-in rule an error; off.\n")
	fmt.Fprintf(w, "  builtin: recommended\n")
	if len(p.policyDirs) > 0 {
		fmt.Fprintf(w, "  # Directories of Rego policies found in the repo (conftest's policy/ as it is).\n")
		fmt.Fprintf(w, "  paths:\n")
		for _, d := range p.policyDirs {
			fmt.Fprintf(w, "    - %s  # %s\n", YAMLString(d.dir), report.Plural(d.n, "Rego file"))
		}
	}
	if len(p.crdDirs) > 0 {
		fmt.Fprintf(w, "schemas:\n")
		fmt.Fprintf(w, "  # Directories of CustomResourceDefinitions found in the repo: custom\n")
		fmt.Fprintf(w, "  # resources validate against them wherever they are rendered.\n")
		fmt.Fprintf(w, "  paths:\n")
		for _, d := range p.crdDirs {
			fmt.Fprintf(w, "    - %s  # %s\n", YAMLString(d.dir), report.Plural(d.n, "CustomResourceDefinition"))
		}
	}
	fmt.Fprintf(w, "report:\n")
	fmt.Fprintf(w, "  # In a pull request only findings the change introduces fail the gate;\n")
	fmt.Fprintf(w, "  # scope: all fails on the base's findings too.\n")
	fmt.Fprintf(w, "  failOn: {severity: error, scope: new}\n")
	_ = w.Flush()
	return b.Bytes()
}

// Describe prints what init found and why, before the first check.
func (p *InitPlan) Describe(w io.Writer) {
	switch len(p.envs) {
	case 0:
		fmt.Fprintf(w, "no environment found: declare them under environments: in %s\n", escape.Terminal(p.file))
	default:
		fmt.Fprintf(w, "%s found:\n", report.Plural(len(p.envs), "environment"))
		for _, e := range p.envs {
			fmt.Fprintf(w, "  %s  %s %s: %s\n", escape.Terminal(e.Name), escape.Terminal(e.Kind), escape.Terminal(e.Path), escape.Terminal(e.Reason))
		}
	}
	for _, f := range p.envFinds {
		fmt.Fprintln(w, "  "+escape.Terminal(f.String()))
	}
	fmt.Fprintf(w, "Kubernetes version: %s (the newest gate has schemas for; set defaults.kubernetesVersion to your clusters')\n", p.kubeVersion)
	if len(p.policyDirs) == 0 {
		fmt.Fprintf(w, "policies: the built-in library (recommended); no Rego files in the repo\n")
	} else {
		var ds []string
		for _, d := range p.policyDirs {
			ds = append(ds, fmt.Sprintf("%s (%s)", d.dir, report.Plural(d.n, "Rego file")))
		}
		fmt.Fprintf(w, "policies: the built-in library (recommended) and %s\n", escape.Terminal(strings.Join(ds, ", ")))
	}
	if len(p.crdDirs) > 0 {
		var ds []string
		for _, d := range p.crdDirs {
			ds = append(ds, fmt.Sprintf("%s (%s)", d.dir, report.Plural(d.n, "CustomResourceDefinition")))
		}
		fmt.Fprintf(w, "CRD schemas: %s\n", escape.Terminal(strings.Join(ds, ", ")))
	}
	if len(p.crdSkipped) > 0 {
		var ds []string
		for _, d := range p.crdSkipped {
			ds = append(ds, fmt.Sprintf("%s (%s)", d.dir, report.Plural(d.n, "CustomResourceDefinition")))
		}
		fmt.Fprintf(w, "CRDs next to other YAML, not listed in schemas.paths (those an environment renders are read from its rendering): %s\n", escape.Terminal(strings.Join(ds, ", ")))
	}
}
