package render

import (
	"context"
	"fmt"
	"net/url"
	"path"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// discoverArgoEnvs finds the Argo CD Applications of the repo (those in its
// files, those ApplicationSets generate and those other Applications
// render) and returns one environment per Application, with the
// directories their sources render: discovery does not list those again
// as environments of their own.
func discoverArgoEnvs(src source.Source, cfg *config.Config) ([]checks.Env, map[string]bool, []checks.Finding) {
	acfg := argoConfig{lim: DefaultLimits(), kubeVersion: cfg.Defaults.KubernetesVersion, exclude: cfg.Discovery.Exclude, repos: cfg.RepoURLs()}
	for _, c := range cfg.ArgoCD.Clusters {
		acfg.clusters = append(acfg.clusters, argoCluster{Name: c.Name, Server: c.Server, Labels: c.Labels, Origin: checks.Origin{File: cfg.File, Line: cfg.Lines["argocd"]}})
	}
	r := New(Options{})
	// Discovery renders each Application once to find the ones it renders
	// (app of apps); the renderer's per-environment timeout bounds each.
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
	defer cancel()
	dcfg := acfg
	dcfg.discovery = true
	found, finds := discoverArgo(ctx, r, src, dcfg)
	envs := argoEnvs(found, acfg)
	if cfg.ArgoCD.EnvironmentPer == "cluster" {
		envs = argoByCluster(envs, cfg)
	}
	used := map[string]bool{}
	for _, e := range envs {
		r.argoUsedDirs(src, e, used)
	}
	return envs, used, finds
}

// chainDepth is the depth of the next Application below parents.
func chainDepth(parents []checks.Node) int {
	// Below the last Application, ApplicationSet or source that led to it
	// (a parent's source renders the child).
	d := 0
	for _, n := range parents {
		if n.Kind != "values" && n.Kind != "cluster" {
			d = n.Depth + 1
		}
	}
	return d
}

// chartDirOf is the chart directory holding file (a template), or "".
func chartDirOf(src source.Source, file string) string {
	for dir := path.Dir(file); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if _, err := src.Stat(path.Join(dir, "Chart.yaml")); err == nil {
			return dir
		}
	}
	return ""
}

// argoEnvNames keeps Application names, prefixing argocd- to one that
// another environment already uses.
func argoEnvNames(argo, others []checks.Env) []checks.Env {
	taken := map[string]bool{}
	for _, e := range others {
		taken[e.Name] = true
	}
	for i := range argo {
		if taken[argo[i].Name] {
			argo[i].Name = "argocd-" + argo[i].Name
		}
	}
	return argo
}

// argoByCluster groups Application environments by destination cluster
// (gate.yaml argocd.environmentPer: cluster): one environment renders every
// Application that syncs to the cluster.
func argoByCluster(envs []checks.Env, cfg *config.Config) []checks.Env {
	var out []checks.Env
	by := map[string]int{}
	for _, e := range envs {
		key := e.Cluster
		if key == "" {
			key = "in-cluster"
		}
		i, ok := by[key]
		if !ok {
			name := key
			if u, err := url.Parse(key); err == nil && u.Host != "" {
				name = u.Hostname()
			}
			if key == "https://kubernetes.default.svc" {
				name = "in-cluster"
			}
			by[key] = len(out)
			out = append(out, checks.Env{Name: name, Path: e.Path, Kind: KindArgo, KubernetesVersion: e.KubernetesVersion, Cluster: key, Repos: e.Repos,
				Reason: fmt.Sprintf("Argo CD Applications syncing to cluster %s, together (%s: argocd.environmentPer: cluster)", key, orDefault(cfg.File, "gate.yaml"))})
			i = by[key]
		}
		out[i].Tree = append(out[i].Tree, e.Tree...)
	}
	return out
}
