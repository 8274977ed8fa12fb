package render

import (
	"path"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/source"
)

// Deps is what an environment's render reads as far as a scan of its
// kustomizations, without rendering, can tell: exact files, and whole
// directories for charts and plain YAML environments. A change that
// touches one of them certainly touches the environment; one that touches
// none proves nothing (a scan can miss a way of reading): whether an
// environment is untouched is decided from the probes of its base render
// (Result.Probes, checks/engine). The scan alone selects environments only
// when there is no base to render (--changed-files).
type Deps struct {
	Files []string `json:"files"`
	Dirs  []string `json:"dirs,omitempty"`
	// Partial is set when the scan did not follow every reference to a
	// file (an error fell back to a whole directory, or a Helm chart whose
	// directory is picked by which candidate exists): another revision's
	// scan may then read files this one does not name. Without it, the
	// deps are a function of the content of the files they list, so a
	// revision that changes none of them has the same deps.
	Partial bool `json:"partial,omitempty"`
	// Charts are the charts from the chart cache the render uses, as
	// ChartDep strings (reference and digest, or "missing"). The chart
	// cache is not part of the tree: DepsAll stores no index that has
	// them. (The render cache keys on the chart cache's whole state.)
	Charts []string `json:"charts,omitempty"`
}

// ChartDep is the Deps.Charts entry of a chart reference and what the
// chart cache resolved it to (c nil: not cached).
func ChartDep(ref charts.Ref, c *charts.Chart) string {
	if c == nil {
		return ref.String() + " missing"
	}
	return ref.String() + " " + c.Version + " " + c.Digest
}

// Touches reports whether a changed repo-relative path is one of the deps.
func (d Deps) Touches(p string) bool {
	i := sort.SearchStrings(d.Files, p)
	if i < len(d.Files) && d.Files[i] == p {
		return true
	}
	for _, dir := range d.Dirs {
		if dir == "." || p == dir || strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

// Deps scans env and lists what its render reads. A scan problem makes the
// whole environment directory a dependency (the render will report it).
func (r *Renderer) Deps(src source.Source, env checks.Env) Deps {
	return r.deps(src, env, nil)
}

// DepsAll is Deps for each of envs (in order), scanning each kustomization
// they share once. With a cache and a source whose content has an ID (a
// git commit's tree: the base of a pull request), the index is stored and
// read back under that ID, so a base is scanned once, not on every run.
func (r *Renderer) DepsAll(src source.Source, envs []checks.Env) []Deps {
	key := r.opts.Cache.depsKey(src, envs, r.opts.Limits)
	if key != "" {
		if out, ok := r.opts.Cache.loadDeps(key, len(envs)); ok {
			return out
		}
	}
	m := newMemo(r, src)
	out := make([]Deps, len(envs))
	for i, e := range envs {
		out[i] = r.deps(src, e, m)
	}
	for _, d := range out {
		if len(d.Charts) > 0 {
			key = "" // the chart cache is not part of the tree: never stored
		}
	}
	if key != "" {
		if err := r.opts.Cache.storeDeps(key, out); err != nil {
			r.opts.Logger.Warn("dependency index not cached", "err", err)
		}
	}
	return out
}

func (r *Renderer) deps(src source.Source, env checks.Env, m *memo) Deps {
	files := map[string]bool{}
	var dirs, chartDeps []string
	partial := false
	switch env.Kind {
	case KindHelm:
		dirs = append(dirs, env.Path)
		for _, v := range env.ValuesFiles {
			files[v] = true
		}
	case KindPlain:
		dirs = append(dirs, env.Path)
	case KindFlux:
		// No scan: what a cluster reads is what its render probed
		// (Result.Probes, Renderer.Records). As a scan, everything.
		return Deps{Dirs: []string{"."}, Partial: true}
	case KindArgo:
		return r.argoDeps(src, env, m)
	default:
		g, err := r.scanGraphWith(src, env.Path, m)
		if err != nil {
			dirs = append(dirs, env.Path)
			partial = true
			// A missing kustomization in a base still names files.
			break
		}
		for _, dir := range g.order {
			k := g.byDir[dir]
			files[k.File] = true
			for _, f := range k.Files {
				files[f] = true
			}
			if len(k.Opaque) > 0 {
				dirs = append(dirs, k.Opaque...)
				partial = true
			}
			for _, hc := range k.HelmCharts {
				partial = true
				rel, err := helmReleaseFromKustomize(src, k, hc, env.KubernetesVersion, r.opts.Charts)
				if repo := scalar(hc.Node, "repo"); repo != "" && (err != nil || rel.Chart != nil) {
					chartDeps = append(chartDeps, ChartDep(charts.Ref{Repo: repo, Chart: scalar(hc.Node, "name"), Version: scalar(hc.Node, "version")}, rel.Chart))
				}
				if err != nil {
					dirs = append(dirs, path.Join(k.Dir, "charts"))
					continue
				}
				dirs = append(dirs, rel.ChartDir)
				for _, v := range rel.ValuesFiles {
					files[v] = true
				}
			}
			// A kustomization file added next to the one in use changes
			// which one kustomize picks.
			for _, n := range KustomizationFiles {
				files[path.Join(dir, n)] = true
			}
		}
	}
	d := Deps{Dirs: dirs, Charts: chartDeps, Partial: partial}
	for f := range files {
		d.Files = append(d.Files, f)
	}
	sort.Strings(d.Files)
	sort.Strings(d.Dirs)
	sort.Strings(d.Charts)
	return d
}

// Affected returns, for each environment a change touches, the changed
// files that pulled it in. globals are files that affect every environment
// (gate.yaml, policies).
func Affected(deps map[string]Deps, changed []string, globals func(string) bool) map[string][]string {
	out := map[string][]string{}
	for _, c := range changed {
		if globals != nil && globals(c) {
			for env := range deps {
				out[env] = append(out[env], c)
			}
			continue
		}
		for env, d := range deps {
			if d.Touches(c) {
				out[env] = append(out[env], c)
			}
		}
	}
	for env := range out {
		sort.Strings(out[env])
	}
	return out
}
