package render

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// argoIndex memoises, per source, the scan of the repo's own Argo CD files,
// so the environments of one run scan once.
type argoIndex struct {
	mu      sync.Mutex
	scans   map[argoScanKey]*argoScanOnce
	parents map[argoScanKey]*argoParentOnce
}

type argoScanKey struct {
	src  source.Source
	conf string // the repos and clusters the scan used
}

type argoScanOnce struct {
	once sync.Once
	scan *argoScan
}

func (x *argoIndex) scan(src source.Source, cfg argoConfig) *argoScan {
	key := argoScanKey{src: src, conf: fmt.Sprint(cfg.repos, cfg.clusters)}
	x.mu.Lock()
	if x.scans == nil {
		x.scans = map[argoScanKey]*argoScanOnce{}
	}
	o := x.scans[key]
	if o == nil {
		o = &argoScanOnce{}
		x.scans[key] = o
	}
	x.mu.Unlock()
	o.once.Do(func() { o.scan = scanArgo(src, cfg) })
	return o.scan
}

// renderArgoEnv renders the Applications an environment names (one, or
// those of a cluster), finding each again in src (the base of a pull
// request has its own version of it): the roots are scanned, then each
// parent on the chain renders to give the next.
func (r *Renderer) renderArgoEnv(ctx context.Context, m *memo, src source.Source, env checks.Env, res *Result) error {
	segs := argoSegments(env.Tree)
	if len(segs) == 0 {
		return fmt.Errorf("environment %s names no Application", env.Name)
	}
	cfg := argoConfig{lim: r.opts.Limits, repos: env.Repos, kubeVersion: env.KubernetesVersion, clusters: argoClustersOf(env.Tree), memo: m}
	scan := r.argo.scan(src, cfg)
	files := map[string]bool{}
	for _, seg := range segs {
		r.renderArgoChain(ctx, src, scan, argoChainOf(seg), cfg, res)
		for _, n := range seg {
			if n.Kind == "Application" || n.Kind == "ApplicationSet" {
				files[n.Origin.File] = true
			}
		}
	}
	for _, f := range res.Files {
		files[f] = true
	}
	res.Files = res.Files[:0]
	for f := range files {
		if f != "" {
			res.Files = append(res.Files, f)
		}
	}
	sort.Strings(res.Files)
	return nil
}

func (r *Renderer) renderArgoChain(ctx context.Context, src source.Source, scan *argoScan, chain []string, cfg argoConfig, res *Result) {
	candidates := scan.roots
	for i, key := range chain {
		var app *argoApp
		for _, a := range candidates {
			if a.key() == key {
				app = a
			}
		}
		if app == nil {
			// Not at this revision (a change adds it): nothing to render.
			return
		}
		if i == len(chain)-1 {
			r.renderArgoApp(ctx, src, app, cfg, res)
			return
		}
		candidates = r.argo.children(strings.Join(chain[:i+1], ">"), src, cfg, func() []*argoApp {
			parent := newResult(res.Env, src, r.opts.Limits)
			return r.renderArgoApp(ctx, src, app, cfg, parent).children
		})
	}
}

// children renders a parent Application once per run for all the
// environments below it (an app of apps has one parent for many).
func (x *argoIndex) children(chain string, src source.Source, cfg argoConfig, render func() []*argoApp) []*argoApp {
	key := argoScanKey{src: src, conf: fmt.Sprint(cfg.repos, cfg.clusters, cfg.kubeVersion) + "\x00" + chain}
	x.mu.Lock()
	if x.parents == nil {
		x.parents = map[argoScanKey]*argoParentOnce{}
	}
	o := x.parents[key]
	if o == nil {
		o = &argoParentOnce{}
		x.parents[key] = o
	}
	x.mu.Unlock()
	o.once.Do(func() { o.children = render() })
	return o.children
}

type argoParentOnce struct {
	once     sync.Once
	children []*argoApp
}

// argoSegments splits a tree into the trees of its Applications: each
// starts at a root node (depth 0).
func argoSegments(tree []checks.Node) [][]checks.Node {
	var out [][]checks.Node
	for _, n := range tree {
		if n.Depth == 0 || len(out) == 0 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], n)
	}
	return out
}

// argoChainOf lists the Application keys from the outermost parent to the
// Application of one tree.
func argoChainOf(tree []checks.Node) []string {
	// Nodes below the Application are sources, never Applications, so the
	// last Application node is the one the tree is about.
	var chain []string
	for _, n := range tree {
		if n.Kind == "Application" {
			chain = append(chain, n.Name)
		}
	}
	return chain
}

// argoClustersOf reads back the gate.yaml clusters a tree lists for the
// cluster generator (Detail is "server k=v,k=v").
func argoClustersOf(tree []checks.Node) []argoCluster {
	var out []argoCluster
	seen := map[string]bool{}
	for _, n := range tree {
		if n.Kind != "cluster" || seen[n.Name] {
			continue
		}
		seen[n.Name] = true
		server, labels, _ := strings.Cut(n.Detail, " ")
		c := argoCluster{Name: n.Name, Server: server, Labels: map[string]string{}, Origin: n.Origin}
		for _, kv := range strings.Split(labels, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				c.Labels[k] = v
			}
		}
		out = append(out, c)
	}
	return out
}

func (c argoCluster) node(depth int) checks.Node {
	var labels []string
	for _, k := range sortedKeys(c.Labels) {
		labels = append(labels, k+"="+c.Labels[k])
	}
	return checks.Node{Kind: "cluster", Name: c.Name, Depth: depth, Detail: strings.TrimSpace(c.Server + " " + strings.Join(labels, ",")), Origin: c.Origin}
}
