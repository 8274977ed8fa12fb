package render

import (
	"path"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// argoUsedDirs adds to used the directories an Argo CD environment's
// render reads, from the tree discovery recorded: those of the files that
// declare its Applications and of its values files, the directories of
// its sources (for kustomize sources and the components an Application
// adds, those of the kustomizations they reach) and the chart of a parent
// that renders an Application. Discovery does not list them again as
// environments of their own.
func (r *Renderer) argoUsedDirs(src source.Source, env checks.Env, used map[string]bool) {
	for _, n := range env.Tree {
		switch {
		case n.Kind == "Application" || n.Kind == "ApplicationSet":
			if n.Origin.File != "" {
				used[path.Dir(n.Origin.File)] = true
			}
		case n.Kind == "values":
			if n.Name != "" {
				used[path.Dir(n.Name)] = true
			}
		case n.Kind == "source/kustomize" && n.NotRendered == "", n.Kind == "component":
			r.kustomizeUsedDirs(src, n.Name, used)
		case strings.HasPrefix(n.Kind, "source/") && n.Kind != "source/ref" && n.Kind != "source/chart" && n.NotRendered == "":
			used[n.Name] = true
		}
		if n.Kind == "Application" && n.Origin.File != "" {
			// A parent that is a chart renders this Application from its
			// templates and values: the chart is used too.
			if dir := chartDirOf(src, n.Origin.File); dir != "" {
				used[dir] = true
			}
		}
	}
}

// kustomizeUsedDirs adds to used the directories of the files the
// kustomization graph under dir names (kustomizations, resources,
// patches, generator inputs, the chart directories and values files of
// its helmCharts), and the directories whose files it cannot tell apart
// (Kustomization.Opaque). A graph that does not scan uses dir.
func (r *Renderer) kustomizeUsedDirs(src source.Source, dir string, used map[string]bool) {
	g, err := r.scanGraphWith(src, dir, nil)
	if err != nil {
		used[dir] = true
		return
	}
	for _, d := range g.order {
		k := g.byDir[d]
		used[path.Dir(k.File)] = true
		for _, f := range k.Files {
			used[path.Dir(f)] = true
		}
		for _, o := range k.Opaque {
			used[o] = true
		}
		for _, hc := range k.HelmCharts {
			rel, err := helmReleaseFromKustomize(src, k, hc, "", r.opts.Charts)
			if err != nil {
				used[path.Join(k.Dir, "charts")] = true
				continue
			}
			used[rel.ChartDir] = true
			for _, v := range rel.ValuesFiles {
				used[path.Dir(v)] = true
			}
		}
		// A kustomization file added next to the one in use would change
		// which one kustomize picks: d is used.
		used[d] = true
	}
}
