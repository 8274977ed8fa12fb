package render

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/reporef"
	"github.com/gate-ops/gate/checks/source"
)

// FluxNode is one node of a Flux environment's tree, for `gate envs`:
// the cluster, the Kustomizations it applies and the HelmReleases they
// yield, each with the line that declared it.
type FluxNode struct {
	// Kind is Cluster, Kustomization or HelmRelease.
	Kind      string        `json:"kind"`
	Name      string        `json:"name"`
	Namespace string        `json:"namespace,omitempty"`
	Origin    checks.Origin `json:"origin"`
	// Path is the repo directory a Kustomization builds.
	Path string `json:"path,omitempty"`
	// Source is what a Kustomization or chart comes from ("GitRepository flux-system/flux-system").
	Source string `json:"source,omitempty"`
	// Chart names a HelmRelease's chart and version.
	Chart     string   `json:"chart,omitempty"`
	DependsOn []string `json:"dependsOn,omitempty"`
	// NotRendered says why gate left the node out, "" when it rendered.
	NotRendered string      `json:"notRendered,omitempty"`
	Children    []*FluxNode `json:"children,omitempty"`
}

// fluxWalk renders one Flux environment.
type fluxWalk struct {
	r   *Renderer
	ctx context.Context
	// memo is the RenderAll's (nil: none): the app overlays several
	// clusters include are built once (memo.go).
	memo   *memo
	src    source.Source
	env    checks.Env
	res    *Result
	match  *reporef.Matcher
	charts bool

	seen    map[string]bool // Kustomizations rendered (namespace/name)
	objs    []*checks.Resource
	files   map[string]bool
	pending []fluxPending
	helm    []fluxPending
	root    *FluxNode
}

type fluxPending struct {
	rsc    *checks.Resource
	parent *FluxNode
}

// fluxTree walks a Flux environment without rendering charts, with the
// subtrees m shares (nil: none): the tree `gate envs` shows and the
// problems met on the way.
func (r *Renderer) fluxTree(ctx context.Context, m *memo, src source.Source, env checks.Env) (*FluxNode, []checks.Finding) {
	res := newResult(env, src, r.opts.Limits)
	w := r.newFluxWalk(ctx, m, src, env, res, false)
	w.run()
	checks.SortFindings(res.Findings)
	return w.root, res.Findings
}

// FluxTrees is fluxTree for each of envs (nil for those not Flux), with
// the kustomizations the clusters share built once, as RenderAll does.
func (r *Renderer) FluxTrees(ctx context.Context, src source.Source, envs []checks.Env) ([]*FluxNode, [][]checks.Finding) {
	trees, finds := make([]*FluxNode, len(envs)), make([][]checks.Finding, len(envs))
	var m *memo
	if !r.opts.NoShare {
		m = newMemo(r, src)
	}
	for i, e := range envs {
		if e.Kind == KindFlux {
			trees[i], finds[i] = r.fluxTree(ctx, m, src, e)
		}
	}
	return trees, finds
}

func (r *Renderer) newFluxWalk(ctx context.Context, m *memo, src source.Source, env checks.Env, res *Result, charts bool) *fluxWalk {
	return &fluxWalk{r: r, ctx: ctx, memo: m, src: src, env: env, res: res, match: reporef.New(env.Repos...), charts: charts,
		seen: map[string]bool{}, files: map[string]bool{}}
}

// renderFlux renders a Flux environment into res, with the subtrees m
// shares (nil: none).
func (r *Renderer) renderFlux(ctx context.Context, m *memo, src source.Source, env checks.Env, res *Result) error {
	w := r.newFluxWalk(ctx, m, src, env, res, true)
	w.run()
	return ctx.Err()
}

func (w *fluxWalk) finding(sev checks.Severity, rule string, o checks.Origin, format string, args ...any) {
	w.res.Findings = append(w.res.Findings, checks.Finding{Check: "render", RuleID: rule, Severity: sev, Env: w.env.Name, Origin: o, Message: fmt.Sprintf(format, args...)})
}

func (w *fluxWalk) run() {
	w.root = &FluxNode{Kind: "Cluster", Name: w.env.Name, Path: w.env.Path, Origin: checks.Origin{File: w.env.Path}, Source: "this repository"}
	// The cluster's entry point is the path of the bootstrap Kustomization
	// (flux-system), whether or not bootstrap's files are committed.
	var root fluxKustomization
	root.Metadata = fluxMeta{Name: "flux-system", Namespace: "flux-system"}
	root.Spec.Path = w.env.Path
	root.Spec.SourceRef = fluxRef{Kind: "GitRepository", Name: "flux-system"}
	w.seen["flux-system/flux-system"] = true
	w.kustomization(&root, nil, w.root)
	// Kustomizations first (they yield the sources, ConfigMaps and Secrets
	// the rest need), then HelmReleases.
	for i := 0; i < len(w.pending) && i < 10000; i++ {
		if w.ctx.Err() != nil {
			return
		}
		p := w.pending[i]
		var ks fluxKustomization
		if err := decodeObject(p.rsc.Object, &ks); err != nil {
			w.finding(checks.SeverityError, "render/flux", p.rsc.Origin, "Kustomization %s: %v", p.rsc.ID.Name, err)
			continue
		}
		w.kustomization(&ks, p.rsc, p.parent)
	}
	for _, p := range w.helm {
		if w.ctx.Err() != nil {
			return
		}
		w.helmRelease(p.rsc, p.parent)
	}
	sortTree(w.root)
}

// sortTree orders children by the line that declares them.
func sortTree(n *FluxNode) {
	sort.SliceStable(n.Children, func(i, j int) bool {
		a, b := n.Children[i].Origin, n.Children[j].Origin
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	for _, c := range n.Children {
		sortTree(c)
	}
}

func decodeObject(obj map[string]any, into any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

func nsOr(ns, def string) string {
	if ns != "" {
		return ns
	}
	return def
}

// at is the source line of a field of a rendered object.
func (w *fluxWalk) at(r *checks.Resource, field ...string) checks.Origin {
	if r == nil {
		return checks.Origin{File: w.env.Path}
	}
	return w.res.Locate(r, field)
}

// kustomization renders one Flux Kustomization and queues what it yields.
func (w *fluxWalk) kustomization(ks *fluxKustomization, decl *checks.Resource, parent *FluxNode) {
	ns := nsOr(ks.Metadata.Namespace, "default")
	node := parent
	if decl != nil {
		node = &FluxNode{Kind: "Kustomization", Name: ks.Metadata.Name, Namespace: ns, Origin: decl.Origin}
		for _, d := range ks.Spec.DependsOn {
			node.DependsOn = append(node.DependsOn, nsOr(d.Namespace, ns)+"/"+d.Name)
		}
		parent.Children = append(parent.Children, node)
	}
	if ks.Spec.Suspend {
		node.NotRendered = "suspended: Flux applies nothing while spec.suspend is true"
		w.finding(checks.SeverityNotice, "render/flux-not-rendered", w.at(decl, "spec", "suspend"), "Kustomization %s/%s is suspended: not rendered", ns, ks.Metadata.Name)
		return
	}
	root, srcDesc, why := w.gitSource(ks.Spec.SourceRef, ns, decl, "spec", "sourceRef")
	node.Source = srcDesc
	if why != "" {
		node.NotRendered = why
		w.finding(checks.SeverityWarning, "render/flux-not-rendered", w.at(decl, "spec", "sourceRef"), "Kustomization %s/%s not rendered: %s", ns, ks.Metadata.Name, why)
		return
	}
	rel := strings.TrimPrefix(ks.Spec.Path, "./")
	dir, err := source.Join(root, rel)
	if decl == nil {
		dir = w.env.Path
	}
	if err != nil {
		node.NotRendered = "path leaves the repository"
		w.finding(checks.SeverityError, "render/path-escape", w.at(decl, "spec", "path"), "Kustomization %s/%s path %q: %v", ns, ks.Metadata.Name, ks.Spec.Path, unwrapEscape(err))
		return
	}
	node.Path = dir
	if fi, err := w.src.Stat(dir); err != nil || !fi.IsDir() {
		node.NotRendered = "path does not exist"
		w.finding(checks.SeverityError, "render/missing-file", w.at(decl, "spec", "path"), "Kustomization %s/%s: path %s (%s in the repository) does not exist", ns, ks.Metadata.Name, ks.Spec.Path, dir)
		return
	}
	objs, ok := w.build(ks, decl, dir)
	if !ok {
		node.NotRendered = "build failed (see the findings)"
		return
	}
	if ks.Spec.PostBuild != nil {
		objs = w.substitute(ks, decl, ns, objs)
	}
	for _, o := range objs {
		if cm := ks.Spec.CommonMetadata; cm != nil {
			setCommonMetadata(o, cm.Labels, cm.Annotations)
		}
		w.add(o)
	}
	for _, o := range objs {
		switch {
		case o.ID.Group == fluxKustomizeGroup && o.ID.Kind == "Kustomization":
			key := nsOr(o.ID.Namespace, "default") + "/" + o.ID.Name
			if w.seen[key] {
				if key == "flux-system/flux-system" {
					node.Origin = o.Origin // bootstrap's own declaration of the entry point
				}
				continue
			}
			w.seen[key] = true
			w.pending = append(w.pending, fluxPending{rsc: o, parent: node})
		case o.ID.Group == fluxHelmGroup && o.ID.Kind == "HelmRelease":
			w.helm = append(w.helm, fluxPending{rsc: o, parent: node})
		}
	}
}

// add records a rendered object in the environment.
func (w *fluxWalk) add(o *checks.Resource) {
	w.objs = append(w.objs, o)
	w.res.Resources = append(w.res.Resources, o)
}

func setCommonMetadata(o *checks.Resource, labels, annotations map[string]string) {
	md, _ := o.Object["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		o.Object["metadata"] = md
	}
	for key, vals := range map[string]map[string]string{"labels": labels, "annotations": annotations} {
		if len(vals) == 0 {
			continue
		}
		m, _ := md[key].(map[string]any)
		if m == nil {
			m = map[string]any{}
			md[key] = m
		}
		for k, v := range vals {
			m[k] = v
		}
	}
	if y, err := marshalObject(o.Object); err == nil {
		o.YAML = y
	}
}

// lookup finds a rendered object of the environment.
func (w *fluxWalk) lookup(group, kind, ns, name string) *checks.Resource {
	for i := len(w.objs) - 1; i >= 0; i-- {
		o := w.objs[i]
		if o.ID.Kind == kind && o.ID.Name == name && nsOr(o.ID.Namespace, "default") == ns && (group == "" || o.ID.Group == group) {
			return o
		}
	}
	return nil
}

// gitSource resolves a Kustomization's sourceRef to the repo directory
// that is its root. why is non-empty when the source is not this tree.
func (w *fluxWalk) gitSource(ref fluxRef, ns string, decl *checks.Resource, field ...string) (root, desc, why string) {
	rns := nsOr(ref.Namespace, ns)
	desc = fmt.Sprintf("%s %s/%s", ref.Kind, rns, ref.Name)
	switch ref.Kind {
	case "GitRepository":
		return w.gitRepo(rns, ref.Name, desc)
	case "ExternalArtifact":
		return w.artifact(rns, ref.Name, desc)
	case "":
		return "", "", "no spec.sourceRef"
	}
	return "", desc, fmt.Sprintf("its source is a %s: only sources in this git repository render", ref.Kind)
}

// gitRepo decides whether GitRepository ns/name is this repository.
func (w *fluxWalk) gitRepo(ns, name, desc string) (root, d, why string) {
	o := w.lookup(fluxSourceGroup, "GitRepository", ns, name)
	bootstrap := ns == "flux-system" && name == "flux-system"
	if o == nil {
		if bootstrap {
			return ".", "GitRepository flux-system/flux-system (this repository, by Flux's bootstrap convention)", ""
		}
		return "", desc, fmt.Sprintf("%s is not defined in what this cluster renders", desc)
	}
	spec, _ := o.Object["spec"].(map[string]any)
	u, _ := spec["url"].(string)
	if !bootstrap && !w.match.Match(u) {
		if w.match.Empty() {
			return "", desc + " " + u, fmt.Sprintf("%s (%s) is not known to be this repository: no git remote or gate.yaml repository.urls names it", desc, u)
		}
		return "", desc + " " + u, fmt.Sprintf("%s is another repository (%s)", desc, u)
	}
	if r, _ := spec["ref"].(map[string]any); r != nil {
		for _, k := range []string{"tag", "semver", "commit", "name"} {
			if v, _ := r[k].(string); v != "" {
				return "", desc, fmt.Sprintf("%s is pinned to %s %q, not the revision under review", desc, k, v)
			}
		}
	}
	return ".", desc + " (this repository)", ""
}

// artifact resolves an ExternalArtifact an ArtifactGenerator builds from
// this repository. gate supports the layouts that keep the repository's
// directory structure under one prefix (copy "@src/dir/**" to "@artifact/sub/"
// where dir ends in sub): the artifact is then that prefix of the repo.
func (w *fluxWalk) artifact(ns, name, desc string) (root, d, why string) {
	for _, o := range w.objs {
		if o.ID.Group != fluxSourceExtGroup || o.ID.Kind != "ArtifactGenerator" || nsOr(o.ID.Namespace, "default") != ns {
			continue
		}
		spec, _ := o.Object["spec"].(map[string]any)
		arts, _ := spec["artifacts"].([]any)
		for _, a := range arts {
			am, _ := a.(map[string]any)
			if am["name"] != name {
				continue
			}
			aliases := map[string]string{} // alias -> why not this repo ("" = this repo)
			srcs, _ := spec["sources"].([]any)
			for _, s := range srcs {
				sm, _ := s.(map[string]any)
				alias, _ := sm["alias"].(string)
				kind, _ := sm["kind"].(string)
				sname, _ := sm["name"].(string)
				sns, _ := sm["namespace"].(string)
				if kind != "GitRepository" {
					aliases[alias] = fmt.Sprintf("source %q is a %s", alias, kind)
					continue
				}
				_, _, why := w.gitRepo(nsOr(sns, ns), sname, "GitRepository "+nsOr(sns, ns)+"/"+sname)
				aliases[alias] = why
			}
			prefix := ""
			first := true
			copies, _ := am["copy"].([]any)
			for _, c := range copies {
				cm, _ := c.(map[string]any)
				from, _ := cm["from"].(string)
				to, _ := cm["to"].(string)
				alias, rest, _ := strings.Cut(strings.TrimPrefix(from, "@"), "/")
				if why, ok := aliases[alias]; !ok || why != "" {
					if !ok {
						why = fmt.Sprintf("unknown source alias %q", alias)
					}
					return "", desc, fmt.Sprintf("ArtifactGenerator %s/%s artifact %q copies from %s: %s", ns, o.ID.Name, name, from, why)
				}
				dir := strings.TrimSuffix(strings.TrimSuffix(rest, "**"), "/")
				dst := strings.Trim(strings.TrimPrefix(strings.TrimPrefix(to, "@artifact"), "/"), "/")
				if strings.ContainsAny(dir, "*?[{") || !strings.HasSuffix(rest, "**") && rest != "" {
					return "", desc, fmt.Sprintf("ArtifactGenerator %s/%s artifact %q copies %q: gate renders only whole-directory copies (dir/**)", ns, o.ID.Name, name, from)
				}
				p := dir
				if dst != "" {
					if dir != dst && !strings.HasSuffix(dir, "/"+dst) {
						return "", desc, fmt.Sprintf("ArtifactGenerator %s/%s artifact %q moves %s to %s: gate renders only copies that keep the repository layout", ns, o.ID.Name, name, from, to)
					}
					p = strings.TrimSuffix(strings.TrimSuffix(dir, dst), "/")
				}
				if p == "" {
					p = "."
				}
				if !first && p != prefix {
					return "", desc, fmt.Sprintf("ArtifactGenerator %s/%s artifact %q mixes directories of the repository in a layout gate cannot map", ns, o.ID.Name, name)
				}
				prefix, first = p, false
			}
			if first {
				return "", desc, fmt.Sprintf("ArtifactGenerator %s/%s artifact %q copies nothing", ns, o.ID.Name, name)
			}
			c, err := source.Clean(prefix)
			if err != nil {
				return "", desc, fmt.Sprintf("ArtifactGenerator %s/%s artifact %q: %v", ns, o.ID.Name, name, unwrapEscape(err))
			}
			return c, fmt.Sprintf("%s (ArtifactGenerator %s/%s: %s of this repository)", desc, ns, o.ID.Name, c), ""
		}
	}
	return "", desc, fmt.Sprintf("no ArtifactGenerator in namespace %s builds artifact %q", ns, name)
}

// FlattenFluxTree lists a Flux tree depth first as the nodes `gate envs`
// prints for every sync tool.
func FlattenFluxTree(n *FluxNode) []checks.Node {
	var out []checks.Node
	var visit func(n *FluxNode, depth int)
	visit = func(n *FluxNode, depth int) {
		name := n.Name
		if n.Namespace != "" {
			name = n.Namespace + "/" + n.Name
		}
		var detail []string
		if n.Path != "" && n.Kind != "Cluster" {
			detail = append(detail, "path "+n.Path)
		}
		if n.Chart != "" {
			detail = append(detail, "chart "+n.Chart)
		}
		if n.Source != "" && n.NotRendered != "" && n.Kind == "Kustomization" {
			detail = append(detail, "source "+n.Source)
		}
		if len(n.DependsOn) > 0 {
			detail = append(detail, "dependsOn "+strings.Join(n.DependsOn, ", "))
		}
		out = append(out, checks.Node{Kind: n.Kind, Name: name, Depth: depth, Detail: strings.Join(detail, "; "), Origin: n.Origin, NotRendered: n.NotRendered})
		for _, c := range n.Children {
			visit(c, depth+1)
		}
	}
	if n != nil {
		visit(n, 0)
	}
	return out
}
