package render

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// conventionalParents hold one environment per child directory.
var conventionalParents = []string{"envs", "environments", "overlays", "clusters"}

// skipDirs are never searched for kustomizations.
var skipDirs = map[string]bool{"node_modules": true, "vendor": true, "testdata": false}

// Discover lists the environments of a repo. Environments declared in
// gate.yaml win; without any, every kustomization that no other
// kustomization uses as a base is an environment, and so is every plain
// YAML or chart directory in a conventional envs/, overlays/ or clusters/
// layout. Problems (a declared path that does not exist) are findings.
func Discover(src source.Source, cfg *config.Config) ([]checks.Env, []checks.Finding) {
	if cfg == nil {
		cfg = &config.Config{}
	}
	if len(cfg.Environments) > 0 {
		return declared(src, cfg)
	}
	return discover(src, cfg)
}

func declared(src source.Source, cfg *config.Config) ([]checks.Env, []checks.Finding) {
	var envs []checks.Env
	var finds []checks.Finding
	for i, e := range cfg.Environments {
		line := cfg.Lines[fmt.Sprintf("environments[%d]", i)]
		p, err := source.Clean(e.Path)
		if err != nil {
			finds = append(finds, checks.Finding{Check: "render", RuleID: "config/invalid", Severity: checks.SeverityError, Env: e.Name, Origin: checks.Origin{File: cfg.File, Line: line}, Message: fmt.Sprintf("environment %q path: %v", e.Name, unwrapEscape(err))})
			continue
		}
		kind, err := envKind(src, p)
		if err != nil {
			finds = append(finds, checks.Finding{Check: "render", RuleID: "config/invalid", Severity: checks.SeverityError, Env: e.Name, Origin: checks.Origin{File: cfg.File, Line: line}, Message: fmt.Sprintf("environment %q: %v", e.Name, err)})
			continue
		}
		if kind != KindHelm && holdsFlux(src, p, DefaultLimits()) {
			kind = KindFlux
		}
		kv := e.KubernetesVersion
		if kv == "" {
			kv = cfg.Defaults.KubernetesVersion
		}
		envs = append(envs, checks.Env{
			Name: e.Name, Path: p, Kind: kind, KubernetesVersion: kv, Cluster: e.Cluster,
			Labels: e.Labels, ValuesFiles: joinAll(p, e.ValuesFiles), Namespace: e.Namespace,
			Reason: fmt.Sprintf("declared in %s:%d", cfg.File, line),
		})
		if kind == KindFlux {
			envs[len(envs)-1].Repos = cfg.RepoURLs()
		}
	}
	return envs, finds
}

func joinAll(dir string, files []string) []string {
	var out []string
	for _, f := range files {
		// Values files are relative to the chart directory, like helm -f from there.
		if p, err := source.Join(dir, f); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// envKind tells how a directory renders.
func envKind(src source.Source, dir string) (string, error) {
	fi, err := src.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("path %s does not exist", dir)
		}
		return "", fmt.Errorf("path %s: %v", dir, unwrapEscape(err))
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("path %s is a file, want a directory", dir)
	}
	if FindKustomization(src, dir) != "" {
		return KindKustomize, nil
	}
	if _, err := src.Stat(path.Join(dir, "Chart.yaml")); err == nil {
		return KindHelm, nil
	}
	return KindPlain, nil
}

type kdir struct {
	dir       string
	k         *Kustomization
	component bool
	err       error
}

func discover(src source.Source, cfg *config.Config) ([]checks.Env, []checks.Finding) {
	// Argo CD Applications are environments; what they render is not
	// listed again as an environment of its own.
	argoEnvs, argoUsed, finds := discoverArgoEnvs(src, cfg)
	excluded := discoveryExcluded(cfg)
	dirs, walkFinds := walkKustomizations(src, excluded)
	finds = append(finds, walkFinds...)
	used := usedBases(dirs)
	var envs []checks.Env
	names := map[string]int{}
	// A Flux repo's environments are its clusters; the kustomizations
	// their Kustomizations point at render inside them (see flux.go).
	fluxDirs, covered := fluxLayout(src, cfg)
	add := func(e checks.Env) {
		if fluxDirs[e.Path] {
			e.Kind, e.Repos = KindFlux, cfg.RepoURLs()
			e.Reason = "Flux cluster entry point in the conventional clusters/ layout"
		} else if isCovered(e.Path, covered) {
			return
		}
		envs = append(envs, e)
		names[path.Base(e.Path)]++
	}
	isEnvDir := map[string]bool{}
	for _, d := range dirs {
		if used[d.dir] || d.component || argoUsed[d.dir] {
			continue
		}
		reason := "kustomization not used as a base by any other kustomization"
		if d.err != nil {
			reason += " (its kustomization has errors; rendering reports them)"
		}
		isEnvDir[d.dir] = true
		add(checks.Env{Name: d.dir, Path: d.dir, Kind: KindKustomize, KubernetesVersion: cfg.Defaults.KubernetesVersion, Reason: reason})
	}
	skip := func(p string) bool { return isEnvDir[p] || used[p] || argoUsed[p] || excluded(p) }
	for _, e := range conventionalEnvs(src, cfg, skip) {
		add(e)
	}
	shortNames(envs, names)
	envs = append(envs, argoEnvNames(argoEnvs, envs)...)
	sort.Slice(envs, func(i, j int) bool { return envs[i].Name < envs[j].Name })
	return envs, finds
}

// discoveryExcluded reports whether a directory is under discovery.exclude.
func discoveryExcluded(cfg *config.Config) func(p string) bool {
	return func(p string) bool {
		for _, x := range cfg.Discovery.Exclude {
			x = strings.TrimSuffix(x, "/")
			if p == x || strings.HasPrefix(p, x+"/") {
				return true
			}
		}
		return false
	}
}

// walkKustomizations scans every kustomization of src outside hidden,
// skipped, excluded and chart directories.
func walkKustomizations(src source.Source, excluded func(string) bool) (dirs []kdir, finds []checks.Finding) {
	_ = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != "." {
				finds = append(finds, checks.Finding{Check: "render", RuleID: "render/read-error", Severity: checks.SeverityWarning, Origin: checks.Origin{File: p}, Message: fmt.Sprintf("not searched for environments: %v", unwrapEscape(err))})
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if p != "." && (strings.HasPrefix(d.Name(), ".") || skipDirs[d.Name()] || excluded(p)) {
			return fs.SkipDir
		}
		if _, err := src.Stat(path.Join(p, "Chart.yaml")); err == nil {
			return fs.SkipDir // a chart is rendered by whoever uses it
		}
		if f := FindKustomization(src, p); f != "" {
			k, err := ScanKustomization(src, f, DefaultLimits())
			kd := kdir{dir: p, k: k, err: err}
			if k != nil {
				kd.component = k.Component
			}
			dirs = append(dirs, kd)
		}
		return nil
	})
	return dirs, finds
}

// usedBases are the directories another kustomization includes (not those
// only a cycle of otherwise unused kustomizations includes).
func usedBases(dirs []kdir) map[string]bool {
	used := map[string]bool{}
	for _, d := range dirs {
		if d.k == nil {
			continue
		}
		for _, b := range d.k.Bases {
			if b != d.dir { // a kustomization that includes itself is still an environment
				used[b] = true
			}
		}
	}
	for _, d := range orphanCycles(dirs, used) {
		used[d] = false
	}
	return used
}

// conventionalEnvs are the chart and plain-YAML directories of the
// conventional layouts (not kustomizations, not skipped).
func conventionalEnvs(src source.Source, cfg *config.Config, skip func(string) bool) []checks.Env {
	var envs []checks.Env
	for _, parent := range conventionalParents {
		ents, err := src.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := path.Join(parent, e.Name())
			if !e.IsDir() || skip(p) || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if FindKustomization(src, p) != "" {
				continue // a base or component
			}
			kind, err := envKind(src, p)
			if err != nil {
				continue
			}
			if kind == KindPlain && !hasYAML(src, p) {
				continue
			}
			envs = append(envs, checks.Env{Name: p, Path: p, Kind: kind, KubernetesVersion: cfg.Defaults.KubernetesVersion, Reason: fmt.Sprintf("%s directory in the conventional %s/ layout", kindWord(kind), parent)})
		}
	}
	return envs
}

// shortNames names environments by the directory's base name when unique,
// else by the path.
func shortNames(envs []checks.Env, names map[string]int) {
	for i := range envs {
		if base := path.Base(envs[i].Path); names[base] == 1 && envs[i].Path != "." {
			envs[i].Name = base
		} else if envs[i].Path == "." {
			envs[i].Name = "root"
		} else {
			envs[i].Name = strings.ReplaceAll(envs[i].Path, "/", "-")
		}
	}
}

func kindWord(kind string) string {
	switch kind {
	case KindHelm:
		return "Helm chart"
	case KindPlain:
		return "plain YAML"
	}
	return kind
}

func hasYAML(src source.Source, dir string) bool {
	found := false
	_ = fs.WalkDir(src, dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && isYAMLFile(p) {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found
}

// SelectEnvs filters envs by name; unknown names are an error listing the known ones.
func SelectEnvs(all []checks.Env, names []string) ([]checks.Env, error) {
	if len(names) == 0 {
		return all, nil
	}
	by := map[string]checks.Env{}
	var known []string
	for _, e := range all {
		by[e.Name] = e
		known = append(known, e.Name)
	}
	var out []checks.Env
	for _, n := range names {
		e, ok := by[n]
		if !ok {
			return nil, fmt.Errorf("unknown environment %q (known: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, e)
	}
	return out, nil
}

// orphanCycles returns one kustomization of every cycle no environment
// reaches (a uses b, b uses a, nothing else uses either): without it the
// cycle would make every member "used as a base" and nothing would render,
// a silent pass. Rendering the returned one reports the cycle.
func orphanCycles(dirs []kdir, used map[string]bool) []string {
	bases := map[string][]string{}
	for _, d := range dirs {
		if d.k != nil {
			bases[d.dir] = d.k.Bases
		}
	}
	reached := map[string]bool{}
	var reach func(string)
	reach = func(dir string) {
		if reached[dir] {
			return
		}
		reached[dir] = true
		for _, b := range bases[dir] {
			reach(b)
		}
	}
	for _, d := range dirs {
		if !used[d.dir] || d.component {
			reach(d.dir)
		}
	}
	var out []string
	for _, d := range dirs { // dirs are in walk order: the first of a cycle wins
		if !reached[d.dir] {
			out = append(out, d.dir)
			reach(d.dir)
		}
	}
	return out
}
