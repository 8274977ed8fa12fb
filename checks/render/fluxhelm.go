package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/source"
)

// fluxChart is where a HelmRelease's chart comes from.
type fluxChart struct {
	// Dir is the chart's directory when it lives in this repository.
	Dir string
	// RepoURL, Name and Version describe a chart from a Helm or OCI
	// repository (Version may be a range).
	RepoURL, Name, Version string
	// Field is the HelmRelease field that asks for the chart.
	Field []string
	// VersionField is the HelmRelease field that names the version, when
	// it does: the line a pull request bumping the chart changes, where a
	// version that is not cached is reported.
	VersionField []string
	// Why is set when the chart is not rendered.
	Why string
}

// chartOf resolves a HelmRelease's chart.
func (w *fluxWalk) chartOf(hr *fluxHelmRelease, decl *checks.Resource) fluxChart {
	ns := nsOr(hr.Metadata.Namespace, "default")
	var chart, version string
	var ref fluxRef
	field := []string{"spec", "chart"}
	switch {
	case hr.Spec.ChartRef != nil:
		field = []string{"spec", "chartRef"}
		cr := *hr.Spec.ChartRef
		rns := nsOr(cr.Namespace, ns)
		switch cr.Kind {
		case "OCIRepository":
			o := w.lookup(fluxSourceGroup, "OCIRepository", rns, cr.Name)
			if o == nil {
				return fluxChart{Field: field, Why: fmt.Sprintf("OCIRepository %s/%s is not in what this cluster renders", rns, cr.Name)}
			}
			spec, _ := o.Object["spec"].(map[string]any)
			u, _ := spec["url"].(string)
			r, _ := spec["ref"].(map[string]any)
			v := ""
			for _, k := range []string{"semver", "tag"} {
				if s, _ := r[k].(string); s != "" && v == "" {
					v = s
				}
			}
			repo, name := charts.SplitOCI(u)
			return fluxChart{RepoURL: repo, Name: name, Version: v, Field: field}
		case "HelmChart":
			o := w.lookup(fluxSourceGroup, "HelmChart", rns, cr.Name)
			if o == nil {
				return fluxChart{Field: field, Why: fmt.Sprintf("HelmChart %s/%s is not in what this cluster renders", rns, cr.Name)}
			}
			spec, _ := o.Object["spec"].(map[string]any)
			chart, _ = spec["chart"].(string)
			version, _ = spec["version"].(string)
			sr, _ := spec["sourceRef"].(map[string]any)
			ref.Kind, _ = sr["kind"].(string)
			ref.Name, _ = sr["name"].(string)
			ns = rns
		default:
			return fluxChart{Field: field, Why: fmt.Sprintf("chartRef kind %q is not supported", cr.Kind)}
		}
	case hr.Spec.Chart != nil:
		chart, version, ref = hr.Spec.Chart.Spec.Chart, hr.Spec.Chart.Spec.Version, hr.Spec.Chart.Spec.SourceRef
		field = []string{"spec", "chart", "spec", "chart"}
	default:
		return fluxChart{Field: []string{"spec"}, Why: "the HelmRelease names no chart (spec.chart or spec.chartRef)"}
	}
	rns := nsOr(ref.Namespace, ns)
	switch ref.Kind {
	case "GitRepository":
		root, _, why := w.gitRepo(rns, ref.Name, fmt.Sprintf("GitRepository %s/%s", rns, ref.Name))
		if why != "" {
			return fluxChart{Field: field, Why: why}
		}
		dir, err := source.Join(root, strings.TrimPrefix(chart, "./"))
		if err != nil {
			return fluxChart{Field: field, Why: fmt.Sprintf("chart path %q: %v", chart, unwrapEscape(err))}
		}
		if _, err := w.src.Stat(path.Join(dir, "Chart.yaml")); err != nil {
			return fluxChart{Field: field, Why: fmt.Sprintf("no chart at %s (no Chart.yaml)", dir)}
		}
		return fluxChart{Dir: dir, Field: field}
	case "HelmRepository":
		o := w.lookup(fluxSourceGroup, "HelmRepository", rns, ref.Name)
		if o == nil {
			return fluxChart{Field: field, Why: fmt.Sprintf("HelmRepository %s/%s is not in what this cluster renders", rns, ref.Name)}
		}
		spec, _ := o.Object["spec"].(map[string]any)
		u, _ := spec["url"].(string)
		var vf []string
		if version == "" {
			version = "*"
		} else {
			vf = []string{"spec", "chart", "spec", "version"}
		}
		return fluxChart{RepoURL: u, Name: chart, Version: version, Field: []string{"spec", "chart", "spec", "chart"}, VersionField: vf}
	}
	return fluxChart{Field: field, Why: fmt.Sprintf("chart source kind %q is not supported", ref.Kind)}
}

// helmRelease renders a HelmRelease's chart the way helm-controller would
// install it.
func (w *fluxWalk) helmRelease(decl *checks.Resource, parent *FluxNode) {
	var hr fluxHelmRelease
	if err := decodeObject(decl.Object, &hr); err != nil {
		w.finding(checks.SeverityError, "render/flux", decl.Origin, "HelmRelease %s: %v", decl.ID.Name, err)
		return
	}
	ns := nsOr(hr.Metadata.Namespace, "default")
	node := &FluxNode{Kind: "HelmRelease", Name: hr.Metadata.Name, Namespace: ns, Origin: decl.Origin}
	for _, d := range hr.Spec.DependsOn {
		node.DependsOn = append(node.DependsOn, nsOr(d.Namespace, ns)+"/"+d.Name)
	}
	parent.Children = append(parent.Children, node)
	c := w.chartOf(&hr, decl)
	switch {
	case c.Dir != "":
		node.Chart = c.Dir
		node.Source = "this repository"
	case c.RepoURL != "":
		node.Chart = fmt.Sprintf("%s %s %s", c.RepoURL, c.Name, c.Version)
	}
	if hr.Spec.Suspend {
		node.NotRendered = "suspended"
		return
	}
	if c.Why != "" {
		node.NotRendered = c.Why
		w.finding(checks.SeverityWarning, "render/flux-not-rendered", w.at(decl, c.Field...), "HelmRelease %s/%s not rendered: %s", ns, hr.Metadata.Name, c.Why)
		return
	}
	cached, ok := w.cachedChart(&hr, decl, c, ns, node)
	if !ok {
		return
	}
	if !w.charts {
		return
	}
	crds, ok := w.crdPolicy(&hr, decl, ns)
	if !ok {
		node.NotRendered = "invalid CRD policy (see the findings)"
		return
	}
	values, ok := w.values(&hr, decl, ns)
	if !ok {
		node.NotRendered = "values missing (see the findings)"
		return
	}
	rel := HelmRelease{ChartDir: c.Dir, ReleaseName: releaseName(&hr), Namespace: nsOr(hr.Spec.TargetNamespace, ns),
		ValuesInline: values, KubeVersion: w.env.KubernetesVersion, SkipTests: true, IncludeCRDs: true,
		Chart: cached, Origin: decl.Origin.File}
	if hr.Spec.Chart != nil && cached == nil {
		for _, vf := range hr.Spec.Chart.Spec.ValuesFiles {
			if p, err := source.Join(c.Dir, vf); err == nil {
				rel.ValuesFiles = append(rel.ValuesFiles, p)
			}
		}
	}
	hdocs, err := renderHelm(w.ctx, w.src, rel, w.chartReads())
	if err != nil {
		node.NotRendered = "chart render failed"
		w.helmError(err, decl, ns+"/"+hr.Metadata.Name)
		return
	}
	vlocs := w.valueLocs(decl)
	vsrc := w.valuesSources(&hr, decl, ns, c.Dir, rel.ValuesFiles)
	objs, ncrd := w.helmObjects(decl, hdocs, crds, cached, vsrc, vlocs)
	if ncrd > 0 {
		if msg := crds.notice(ncrd); msg != "" {
			w.finding(checks.SeverityNotice, RuleFluxCRDs, w.at(decl, crds.field...), "HelmRelease %s/%s: %s", ns, hr.Metadata.Name, msg)
		}
	}
	objs = w.postRender(&hr, decl, objs)
	for _, o := range objs {
		w.add(o)
	}
}

// chartReads records each file a chart render reads (from Helm's
// goroutine) as a file of the environment.
func (w *fluxWalk) chartReads() func(string) {
	var mu sync.Mutex
	return func(p string) {
		mu.Lock()
		w.files[p] = true
		w.res.Files = appendUniq(w.res.Files, p)
		mu.Unlock()
	}
}

// helmError is the finding of a HelmRelease (name, "ns/name") whose chart
// did not render.
func (w *fluxWalk) helmError(err error, decl *checks.Resource, name string) {
	if errors.Is(err, context.DeadlineExceeded) {
		w.res.Findings = append(w.res.Findings, w.r.errFinding(w.env, err))
		return
	}
	if re := (*RefError)(nil); errors.As(err, &re) {
		w.finding(checks.SeverityError, re.Rule, checks.Origin{File: re.File, Line: re.Line}, "HelmRelease %s: %s", name, re.Msg)
		return
	}
	w.finding(checks.SeverityError, "render/helm", decl.Origin, "HelmRelease %s: %s", name, err.Error())
}

// cachedChart is the chart of a HelmRelease that is not in the repo, from
// the chart cache (nil for one in the repo); ok is false when it is not
// cached (said on node and as a finding).
func (w *fluxWalk) cachedChart(hr *fluxHelmRelease, decl *checks.Resource, c fluxChart, ns string, node *FluxNode) (cached *charts.Chart, ok bool) {
	if c.Dir != "" {
		return nil, true
	}
	ref := charts.Ref{Repo: c.RepoURL, Chart: c.Name, Version: c.Version}
	cc, err := resolveChart(w.r.opts.Charts, ref)
	if err != nil {
		node.NotRendered = "chart not cached"
		rule, field := "render/flux", c.Field
		if charts.IsNotCached(err) {
			rule = charts.RuleNotCached
			if c.VersionField != nil {
				field = c.VersionField
			}
		}
		w.finding(checks.SeverityError, rule, w.at(decl, field...), "HelmRelease %s/%s: %s", ns, hr.Metadata.Name, err.Error())
		return nil, false
	}
	node.Chart += " (cached: " + cc.Version + ")"
	if w.charts {
		at := w.at(decl, c.Field...)
		w.res.Findings = append(w.res.Findings, ChartUsedFinding(w.env, at.File, at.Line, cc))
	}
	return cc, true
}

// helmObjects are the objects of the documents a HelmRelease's chart
// rendered (CRDs as its policy says), each with where its values come
// from; ncrd counts the chart's CRDs.
func (w *fluxWalk) helmObjects(decl *checks.Resource, hdocs []helmDoc, crds crdPolicies, cached *charts.Chart, vsrc []valuesLoc, vlocs []valueLoc) (objs []*checks.Resource, ncrd int) {
	for _, h := range hdocs {
		if h.CRD {
			ncrd++
			if !crds.render() {
				continue
			}
		}
		ds, err := ParseDocs(h.Template, []byte(h.Body), w.r.opts.Limits)
		if err != nil {
			w.finding(checks.SeverityError, "render/helm", checks.Origin{File: h.Template}, "template output is not valid YAML: %v", err)
			continue
		}
		for _, d := range ds {
			if d.Node.Kind != yaml.MappingNode {
				continue
			}
			var obj map[string]any
			if err := d.Node.Decode(&obj); err != nil {
				continue
			}
			rsc, err := newResource(normalize(obj).(map[string]any))
			if err != nil {
				continue
			}
			rsc.Origin = checks.Origin{File: h.Template, Line: helmLine(w.src, h.Template, d)}
			if cached != nil {
				rsc.Origin = decl.Origin
			}
			w.res.loc[rsc] = &locInfo{File: h.Template, Doc: -1, Values: vsrc, FluxValues: vlocs}
			objs = append(objs, rsc)
		}
	}
	return objs, ncrd
}

// releaseName is the Helm release name helm-controller uses.
func releaseName(hr *fluxHelmRelease) string {
	if hr.Spec.ReleaseName != "" {
		return hr.Spec.ReleaseName
	}
	n := hr.Metadata.Name
	if hr.Spec.TargetNamespace != "" {
		n = hr.Spec.TargetNamespace + "-" + n
	}
	if len(n) > 53 {
		sum := sha256.Sum256([]byte(n))
		n = n[:40] + "-" + hex.EncodeToString(sum[:])[:12]
	}
	return n
}

// postRender applies a HelmRelease's postRenderers (kustomize patches and
// images) to the chart output, in order.
func (w *fluxWalk) postRender(hr *fluxHelmRelease, decl *checks.Resource, objs []*checks.Resource) []*checks.Resource {
	for i, pr := range hr.Spec.PostRenderers {
		if pr.Kustomize == nil || len(pr.Kustomize.Patches) == 0 && len(pr.Kustomize.Images) == 0 {
			continue
		}
		fsys := filesys.MakeFsInMemory()
		var all strings.Builder
		for _, o := range objs {
			all.WriteString("---\n")
			all.Write(o.YAML)
		}
		k := map[string]any{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": []string{"chart.yaml"}}
		if len(pr.Kustomize.Patches) > 0 {
			k["patches"] = pr.Kustomize.Patches
		}
		if len(pr.Kustomize.Images) > 0 {
			k["images"] = pr.Kustomize.Images
		}
		kb, _ := yaml.Marshal(k)
		_ = fsys.WriteFile("/pr/kustomization.yaml", kb)
		_ = fsys.WriteFile("/pr/chart.yaml", []byte(all.String()))
		m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, "/pr")
		if err != nil {
			w.finding(checks.SeverityError, "render/flux-post-renderer", w.at(decl, "spec", "postRenderers", fmt.Sprint(i)), "HelmRelease %s: post-renderer: %s", hr.Metadata.Name, shorten(err.Error()))
			return objs
		}
		byKey := map[string]*checks.Resource{}
		for _, o := range objs {
			byKey[o.ID.Kind+"/"+o.ID.Namespace+"/"+o.ID.Name] = o
		}
		var out []*checks.Resource
		for _, kr := range m.Resources() {
			obj, err := appliedObject(kr)
			if err != nil {
				continue
			}
			n, err := newResource(normalize(obj).(map[string]any))
			if err != nil {
				continue
			}
			if old := byKey[n.ID.Kind+"/"+n.ID.Namespace+"/"+n.ID.Name]; old != nil {
				n.Origin = old.Origin
				w.res.loc[n] = w.res.loc[old]
			} else {
				n.Origin = w.at(decl, "spec", "postRenderers", fmt.Sprint(i))
			}
			n.Patches = append(n.Patches, w.at(decl, "spec", "postRenderers", fmt.Sprint(i)))
			out = append(out, n)
		}
		objs = out
	}
	return objs
}

// RuleFluxCRDs is the notice saying what helm-controller does with the
// CRDs of a chart's crds/ directory under the HelmRelease's CRD policies.
const RuleFluxCRDs = "render/flux-crds"

// crdPolicies are helm-controller's .spec.install.crds and
// .spec.upgrade.crds: Skip, Create (create missing CRDs, never update) or
// CreateReplace (create and replace, never delete). They apply to the
// files of the chart's crds/ directories only; CRDs a chart renders from
// templates are ordinary release objects.
type crdPolicies struct {
	install, upgrade string // with defaults: Create and Skip
	// field is the HelmRelease field the notice lands on.
	field []string
}

// crdPolicy reads the HelmRelease's CRD policies with helm-controller's
// defaults (install Create, upgrade Skip). A value outside the enum is an
// error on its line: the API server rejects such a HelmRelease, so
// nothing of it is applied.
func (w *fluxWalk) crdPolicy(hr *fluxHelmRelease, decl *checks.Resource, ns string) (crdPolicies, bool) {
	p := crdPolicies{install: "Create", upgrade: "Skip"}
	ok := true
	check := func(v *string, field ...string) {
		switch *v {
		case "":
			return
		case "Skip", "Create", "CreateReplace":
			p.field = field
		default:
			ok = false
			w.finding(checks.SeverityError, "render/flux", w.at(decl, field...), "HelmRelease %s/%s: %s is %q, want Skip, Create or CreateReplace (the API server rejects this HelmRelease)", ns, hr.Metadata.Name, strings.Join(field[1:], "."), *v)
		}
	}
	if hr.Spec.Install != nil && hr.Spec.Install.CRDs != "" {
		p.install = hr.Spec.Install.CRDs
		check(&p.install, "spec", "install", "crds")
	}
	if hr.Spec.Upgrade != nil && hr.Spec.Upgrade.CRDs != "" {
		p.upgrade = hr.Spec.Upgrade.CRDs
		check(&p.upgrade, "spec", "upgrade", "crds")
	}
	return p, ok
}

// render reports whether the crds/ CRDs belong to the environment: a
// cluster that reconciled the release holds them when its install or its
// upgrades create them.
func (p crdPolicies) render() bool {
	return p.install != "Skip" || p.upgrade != "Skip"
}

// notice says, when the policies make the rendered CRDs differ from what
// every reconcile applies, how they differ; "" when upgrades create and
// replace them (CreateReplace) and installs create them.
func (p crdPolicies) notice(n int) string {
	what := fmt.Sprintf("the chart's crds/ directories hold %d CRD file(s)", n)
	switch {
	case !p.render():
		return what + "; not rendered: install.crds and upgrade.crds are Skip, so helm-controller never applies them"
	case p.install == "Skip":
		return fmt.Sprintf("%s; rendered, but a first install does not create them (install.crds: Skip); upgrades do (upgrade.crds: %s)", what, p.upgrade)
	case p.upgrade == "Skip":
		return fmt.Sprintf("%s; rendered as an install creates them (install.crds: %s), but upgrades leave them as they are (upgrade.crds: Skip, the default): a change to them, a chart version bump included, reaches only a cluster that installs the release anew; set upgrade.crds: CreateReplace to have upgrades update them", what, p.install)
	case p.upgrade == "Create":
		return fmt.Sprintf("%s; rendered, but upgrades only create the ones missing from the cluster and never update existing ones (upgrade.crds: Create); set CreateReplace to have upgrades update them", what)
	}
	return ""
}
