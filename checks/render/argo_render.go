package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/gobwas/glob"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/strvals"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/source"
)

// argoOut is what rendering one Application gave besides its resources:
// the Applications it renders (app-of-apps) and its sources as tree nodes.
type argoOut struct {
	children []*argoApp
	nodes    []checks.Node
}

// renderArgoApp renders every source of an Application into res, the way
// Argo CD's repo-server generates manifests, and returns the Applications
// among them.
func (r *Renderer) renderArgoApp(ctx context.Context, src source.Source, app *argoApp, cfg argoConfig, res *Result) argoOut {
	var out argoOut
	if app.err != nil {
		res.Findings = append(res.Findings, r.errFinding(res.Env, app.err))
		return out
	}
	sources, paths := app.Spec.sources()
	if len(sources) == 0 {
		res.Findings = append(res.Findings, r.finding(res.Env, ruleArgo, app.File, app.lineOf([]string{"spec"}), fmt.Sprintf("Application %s has no source", app.Name)))
		return out
	}
	files := map[string]bool{}
	// refs are the sources named by ref, for $ref/ value files.
	refs := map[string]argoSource{}
	for _, s := range sources {
		if s.Ref != "" {
			refs[s.Ref] = s
		}
	}
	for i, s := range sources {
		at := paths[i]
		line := app.lineOf(at)
		var valueNodes []checks.Node
		node := checks.Node{Kind: "source", Name: argoSourceName(s), Detail: argoSourceDetail(s), Origin: checks.Origin{File: app.File, Line: line}}
		notRendered := func(rule string, sev checks.Severity, l int, msg string) {
			node.NotRendered = msg
			res.Findings = append(res.Findings, checks.Finding{Check: "render", RuleID: rule, Severity: sev, Env: res.Env.Name, Origin: checks.Origin{File: app.File, Line: l}, Message: msg})
		}
		switch {
		case s.Chart != "":
			node.Kind = "source/chart"
			c, err := resolveChart(r.opts.Charts, argoChartRef(s))
			if err != nil {
				notRendered(charts.RuleNotCached, checks.SeverityError, app.lineOf(append(at, "chart")), err.Error())
				if cfg.discovery {
					// Discovery has no chart cache: the render says
					// whether the chart is cached.
					node.NotRendered = ""
				}
				// Its $ref values files still count: a change to one must
				// reach this environment once the chart is cached.
				if s.Helm != nil {
					for i, vf := range s.Helm.ValueFiles {
						if p, err := argoValueFile(vf, "", refs, cfg); err == nil && strings.HasPrefix(vf, "$") {
							valueNodes = append(valueNodes, checks.Node{Kind: "values", Name: p, Depth: 1, Origin: checks.Origin{File: app.File, Line: app.lineOf(append(at, "helm", "valueFiles", strconv.Itoa(i)))}})
						}
					}
				}
				break
			}
			node.Detail += " chart " + c.Version
			sub := newResult(res.Env, src, r.opts.Limits)
			if err := r.renderArgoHelm(ctx, src, app, s, at, "", c, refs, cfg, sub, &valueNodes); err != nil {
				res.Findings = append(res.Findings, r.argoErrFinding(res.Env, err, app.File, app.lineOf(append(at, "chart"))))
				node.NotRendered = "render failed"
			}
			res.Findings = append(res.Findings, sub.Findings...)
			for _, f := range sub.Files {
				files[f] = true
			}
			for _, rs := range sub.Resources {
				res.Resources = append(res.Resources, rs)
				if info := sub.loc[rs]; info != nil {
					res.loc[rs] = info
				}
			}
		case !app.Implicit && !argoIsThisRepo(s.RepoURL, cfg.repos):
			notRendered(ruleNotRendered, checks.SeverityWarning, app.lineOf(append(at, "repoURL")),
				fmt.Sprintf("source %s at %s is another repository: not rendered%s", s.RepoURL, orDefault(s.TargetRevision, "HEAD"), unknownRepoHint(cfg.repos)))
		case !app.Implicit && !argoIsThisRevision(s.TargetRevision):
			notRendered(ruleNotRendered, checks.SeverityWarning, app.lineOf(append(at, "targetRevision")),
				fmt.Sprintf("source %s at revision %q is another branch or tag than the one checked: not rendered", s.RepoURL, s.TargetRevision))
		case s.Ref != "" && s.Path == "":
			node.Kind = "source/ref"
			// A ref source only lends its files to $ref/ value files.
		case s.Plugin != nil:
			node.Kind = "source/plugin"
			notRendered(ruleNotRendered, checks.SeverityWarning, app.lineOf(append(at, "plugin")),
				fmt.Sprintf("source %s renders with a config management plugin: gate runs no plugin, not rendered", s.Path))
		default:
			kind, err := r.renderArgoSource(ctx, src, app, s, at, refs, cfg, res, files, &valueNodes)
			node.Kind = "source/" + kind
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					res.Findings = append(res.Findings, r.errFinding(res.Env, err))
				} else {
					res.Findings = append(res.Findings, r.argoErrFinding(res.Env, err, app.File, line))
				}
				node.NotRendered = "render failed"
			}
		}
		// Sources in order, each followed by its value files.
		out.nodes = append(append(out.nodes, node), valueNodes...)
	}
	for f := range files {
		res.Files = append(res.Files, f)
	}
	sort.Strings(res.Files)
	// App of apps: the Applications this one renders are environments too.
	d := chainDepth(app.Parents)
	parents := append(append([]checks.Node{}, app.Parents...), checks.Node{Kind: "Application", Name: app.key(), Depth: d, Origin: checks.Origin{File: app.File, Line: app.Line}})
	for _, n := range out.nodes {
		n.Depth += d + 1
		parents = append(parents, n)
	}
	for _, rs := range res.Resources {
		if !isArgo(rs.ID.APIVersion(), rs.ID.Kind) {
			continue
		}
		var node *yaml.Node
		if info := res.loc[rs]; info != nil {
			node = res.docNode(info)
		}
		obj := deepCopyMap(rs.Object)
		if rs.ID.Kind == "Application" {
			out.children = append(out.children, newArgoApp(obj, rs.Origin.File, rs.Origin.Line, node, parents))
			continue
		}
		apps, finds := expandAppSet(src, cfg, obj, rs.Origin.File, rs.Origin.Line, node, parents)
		for i := range finds {
			finds[i].Env = res.Env.Name
		}
		res.Findings = append(res.Findings, finds...)
		out.children = append(out.children, apps...)
	}
	return out
}

func deepCopyMap(m map[string]any) map[string]any {
	var out map[string]any
	b, err := yaml.Marshal(m)
	if err == nil && yaml.Unmarshal(b, &out) == nil {
		return normalize(out).(map[string]any)
	}
	return m
}

// argoChartRef is the chart cache reference of a source with chart: an
// OCI repoURL is written without a scheme in Argo CD.
func argoChartRef(s argoSource) charts.Ref {
	repo := s.RepoURL
	if !strings.Contains(repo, "://") {
		repo = "oci://" + repo
	}
	return charts.Ref{Repo: repo, Chart: s.Chart, Version: s.TargetRevision}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// unknownRepoHint says how to name this repository when nothing does.
func unknownRepoHint(repos []string) string {
	if len(repos) == 0 {
		return " (this repository's URL is unknown: no git remote; list it in gate.yaml repository.urls)"
	}
	return ""
}

func argoSourceName(s argoSource) string {
	switch {
	case s.Chart != "":
		return s.Chart
	case s.Path != "":
		return s.Path
	case s.Ref != "":
		return "$" + s.Ref
	}
	return "."
}

func argoSourceDetail(s argoSource) string {
	d := s.RepoURL
	if s.TargetRevision != "" {
		d += "@" + s.TargetRevision
	}
	if s.Ref != "" {
		d += " ref " + s.Ref
	}
	return d
}

// argoIsThisRevision: Argo CD's HEAD (or nothing) is the default branch,
// which is what a pull request merges into. main and master are taken as
// that branch too.
func argoIsThisRevision(rev string) bool {
	switch rev {
	case "", "HEAD", "main", "master":
		return true
	}
	return false
}

// argoErrFinding is a render error as a finding; errors without a location
// land on the Application's source line.
func (r *Renderer) argoErrFinding(env checks.Env, err error, file string, line int) checks.Finding {
	f := r.errFinding(env, err)
	if f.Origin.File == "" || f.Origin.File == env.Path && f.Origin.Line == 0 {
		f.Origin = checks.Origin{File: file, Line: line}
	}
	return f
}

// renderArgoSource renders one source that lives in this repository and
// returns how it rendered: directory, kustomize or helm (Argo CD's own
// detection: the explicit block first, then Chart.yaml, then a
// kustomization, else a directory of manifests).
func (r *Renderer) renderArgoSource(ctx context.Context, src source.Source, app *argoApp, s argoSource, at []string, refs map[string]argoSource, cfg argoConfig, res *Result, files map[string]bool, nodes *[]checks.Node) (string, error) {
	dir, err := source.Clean(strings.TrimPrefix(orDefault(s.Path, "."), "/"))
	if err != nil || IsRemote(s.Path) {
		return "directory", &RefError{File: app.File, Line: app.lineOf(append(at, "path")), Rule: "render/path-escape", Msg: fmt.Sprintf("source path %q must be inside the repo", s.Path)}
	}
	fi, err := src.Stat(dir)
	if err != nil || !fi.IsDir() {
		return "directory", &RefError{File: app.File, Line: app.lineOf(append(at, "path")), Rule: "render/missing-file", Msg: fmt.Sprintf("source path %s is not a directory of this repository", dir)}
	}
	kind := "directory"
	switch {
	case s.Helm != nil:
		kind = "helm"
	case s.Kustomize != nil:
		kind = "kustomize"
	case s.Directory != nil:
		kind = "directory"
	default:
		if _, err := src.Stat(path.Join(dir, "Chart.yaml")); err == nil {
			kind = "helm"
		} else if FindKustomization(src, dir) != "" {
			kind = "kustomize"
		}
	}
	sub := newResult(res.Env, src, r.opts.Limits)
	switch kind {
	case "helm":
		err = r.renderArgoHelm(ctx, src, app, s, at, dir, nil, refs, cfg, sub, nodes)
	case "kustomize":
		err = r.renderArgoKustomize(ctx, src, app, s, at, dir, cfg, sub)
		// The components the Application adds are read like the source's
		// own bases: nodes of the tree, and so dependencies (argoDeps).
		if s.Kustomize != nil {
			for i, c := range s.Kustomize.Components {
				if p, jerr := source.Join(dir, c); jerr == nil && !IsRemote(c) {
					if _, serr := src.Stat(p); serr == nil {
						*nodes = append(*nodes, checks.Node{Kind: "component", Name: p, Depth: 1, Origin: checks.Origin{File: app.File, Line: app.lineOf(append(at, "kustomize", "components", strconv.Itoa(i)))}})
					}
				}
			}
		}
	default:
		err = r.renderArgoDirectory(src, app, s, at, dir, sub)
	}
	for _, f := range sub.Files {
		files[f] = true
	}
	res.Findings = append(res.Findings, sub.Findings...)
	if err != nil {
		return kind, err
	}
	for _, rs := range sub.Resources {
		res.Resources = append(res.Resources, rs)
		if info := sub.loc[rs]; info != nil {
			res.loc[rs] = info
		}
	}
	return kind, nil
}

// renderArgoDirectory reads a directory of manifests as Argo CD does:
// .yaml, .yml and .json files, subdirectories only with recurse, include
// and exclude globs matched against the path inside the source (a * also
// crosses /, {a,b} alternates). Jsonnet files are named as not rendered.
func (r *Renderer) renderArgoDirectory(src source.Source, app *argoApp, s argoSource, at []string, dir string, res *Result) error {
	var inc, exc *glob.Pattern
	d := s.Directory
	if d == nil {
		d = &argoDirectory{}
	}
	for _, g := range []struct {
		pat   string
		field string
		into  **glob.Pattern
	}{{d.Include, "include", &inc}, {d.Exclude, "exclude", &exc}} {
		if g.pat == "" {
			continue
		}
		c, err := glob.Compile(g.pat)
		if err != nil {
			return &RefError{File: app.File, Line: app.lineOf(append(at, "directory", g.field)), Rule: ruleArgo, Msg: fmt.Sprintf("directory.%s %q: %v", g.field, g.pat, err)}
		}
		*g.into = c
	}
	return fs.WalkDir(src, dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if p != dir && (!d.Recurse || strings.HasPrefix(e.Name(), ".")) {
				return fs.SkipDir
			}
			return nil
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if dir == "." {
			rel = p
		}
		ext := strings.ToLower(path.Ext(p))
		if ext != ".yaml" && ext != ".yml" && ext != ".json" && ext != ".jsonnet" {
			return nil
		}
		if exc != nil && exc.Match(rel) || inc != nil && !inc.Match(rel) {
			return nil
		}
		if ext == ".jsonnet" {
			res.Findings = append(res.Findings, checks.Finding{Check: "render", RuleID: ruleNotRendered, Severity: checks.SeverityWarning, Env: res.Env.Name, Origin: checks.Origin{File: p, Line: 1},
				Message: fmt.Sprintf("jsonnet is out of gate's scope: %s is not rendered (Application %s, %s)", p, app.Name, checks.Origin{File: app.File, Line: app.lineOf(at)})})
			return nil
		}
		res.Files = append(res.Files, p)
		ds, err := res.docs.get(src, p)
		if err != nil {
			return err
		}
		for i, doc := range ds {
			if doc.Node == nil || doc.Node.Kind == yaml.ScalarNode && doc.Node.Tag == "!!null" {
				continue
			}
			if doc.Node.Kind == yaml.SequenceNode && ext == ".json" {
				// A JSON array of objects, which Argo CD accepts.
				for j, it := range doc.Node.Content {
					if err := r.addDoc(res, p, it.Line, Doc{Index: i, Line: it.Line, Node: it, Kind: scalar(it, "kind"), APIVersion: scalar(it, "apiVersion")}, -1); err != nil {
						return err
					}
					_ = j
				}
				continue
			}
			if doc.Kind == "" && doc.APIVersion == "" {
				return &ParseError{File: p, Line: doc.Line, Msg: "YAML document has no apiVersion or kind: Argo CD fails to sync this directory"}
			}
			if err := r.addDoc(res, p, doc.Line, doc, i); err != nil {
				return err
			}
		}
		return nil
	})
}

// renderArgoHelm renders a chart of this repo with the Application's Helm
// settings, in helm template's order of precedence: the chart's values,
// valueFiles in order, values (or valuesObject, which wins over it), then
// parameters (--set, --set-string with forceString) and fileParameters
// (--set-file).
//
// chart, when set, is a chart from the chart cache (a source with chart and
// a Helm repository's repoURL); dir is then "" and value files must come
// from a $ref source.
func (r *Renderer) renderArgoHelm(ctx context.Context, src source.Source, app *argoApp, s argoSource, at []string, dir string, chart *charts.Chart, refs map[string]argoSource, cfg argoConfig, res *Result, nodes *[]checks.Node) error {
	h := s.Helm
	if h == nil {
		h = &argoHelm{}
	}
	hat := append(append([]string{}, at...), "helm")
	rel := HelmRelease{ChartDir: dir, ReleaseName: orDefault(h.ReleaseName, app.Name), Namespace: orDefault(h.Namespace, app.Spec.Destination.Namespace),
		KubeVersion: orDefault(h.KubeVersion, cfg.kubeVersion), APIVersions: h.APIVersions, IncludeCRDs: !h.SkipCrds, SkipTests: h.SkipTests,
		Chart: chart}
	if chart != nil {
		rel.Origin = app.File
	}
	var vlocs []valuesLoc
	for i, vf := range h.ValueFiles {
		line := app.lineOf(append(hat, "valueFiles", strconv.Itoa(i)))
		p, err := argoValueFile(vf, dir, refs, cfg)
		if err == nil && chart != nil && !strings.HasPrefix(vf, "$") {
			err = fmt.Errorf("values file %s is inside chart %s from %s: gate reads value files of a repository chart only from a $ref source, not rendered", vf, s.Chart, s.RepoURL)
		}
		if err != nil {
			res.Findings = append(res.Findings, checks.Finding{Check: "render", RuleID: ruleNotRendered, Severity: checks.SeverityWarning, Env: res.Env.Name, Origin: checks.Origin{File: app.File, Line: line}, Message: err.Error()})
			continue
		}
		if _, err := src.Stat(p); err != nil {
			if h.IgnoreMissingValueFiles && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return &RefError{File: app.File, Line: line, Rule: "render/missing-file", Msg: fmt.Sprintf("values file %s does not exist (set ignoreMissingValueFiles to skip it, as Argo CD would)", p)}
		}
		rel.ValuesFiles = append(rel.ValuesFiles, p)
		*nodes = append(*nodes, checks.Node{Kind: "values", Name: p, Depth: 1, Origin: checks.Origin{File: app.File, Line: line}})
	}
	inline := map[string]any{}
	switch {
	case h.ValuesObject != nil:
		inline = h.ValuesObject
		vlocs = append(vlocs, valuesLoc{File: app.File, Doc: app.docIndex(src, r.opts.Limits), Path: append(hat, "valuesObject"), Line: app.lineOf(append(hat, "valuesObject"))})
	case h.Values != "":
		if err := yaml.Unmarshal([]byte(h.Values), &inline); err != nil {
			return &RefError{File: app.File, Line: app.lineOf(append(hat, "values")), Rule: ruleArgo, Msg: fmt.Sprintf("helm.values is not a YAML mapping: %v", err)}
		}
		inline = normalize(inline).(map[string]any)
		vlocs = append(vlocs, valuesLoc{File: app.File, Inline: h.Values, Offset: app.blockOffset(append(hat, "values")), Line: app.lineOf(append(hat, "values"))})
	}
	for i, p := range h.Parameters {
		set := strvals.ParseInto
		if p.ForceString {
			set = strvals.ParseIntoString
		}
		if err := set(p.Name+"="+p.Value, inline); err != nil {
			return &RefError{File: app.File, Line: app.lineOf(append(hat, "parameters", strconv.Itoa(i))), Rule: ruleArgo, Msg: fmt.Sprintf("helm parameter %s: %v", p.Name, err)}
		}
		vlocs = append(vlocs, valuesLoc{File: app.File, Param: p.Name, Line: app.lineOf(append(hat, "parameters", strconv.Itoa(i), "value"))})
	}
	for i, fp := range h.FileParameters {
		line := app.lineOf(append(hat, "fileParameters", strconv.Itoa(i)))
		p, err := source.Join(dir, fp.Path)
		if err != nil {
			return &RefError{File: app.File, Line: line, Rule: "render/path-escape", Msg: fmt.Sprintf("fileParameters %s: path %q must be inside the repo", fp.Name, fp.Path)}
		}
		b, err := src.ReadFile(p)
		if err != nil {
			return &RefError{File: app.File, Line: line, Rule: "render/missing-file", Msg: fmt.Sprintf("fileParameters %s: %v", fp.Name, unwrapEscape(err))}
		}
		res.Files = append(res.Files, p)
		content := string(b)
		if err := strvals.ParseIntoFile(fp.Name+"="+p, inline, func([]rune) (any, error) { return content, nil }); err != nil {
			return &RefError{File: app.File, Line: line, Rule: ruleArgo, Msg: fmt.Sprintf("fileParameters %s: %v", fp.Name, err)}
		}
		vlocs = append(vlocs, valuesLoc{File: app.File, Param: fp.Name, Line: line})
	}
	if len(inline) > 0 {
		rel.ValuesInline = inline
	}
	// Value files take their lines from their own documents.
	files := make([]valuesLoc, 0, len(rel.ValuesFiles)+len(vlocs)+1)
	if chart == nil {
		files = append(files, valuesLoc{File: path.Join(dir, "values.yaml"), Doc: 0})
	}
	for _, vf := range rel.ValuesFiles {
		files = append(files, valuesLoc{File: vf, Doc: 0})
	}
	vlocs = append(files, vlocs...)
	read := map[string]bool{}
	hdocs, err := renderHelm(ctx, src, rel, func(p string) { read[p] = true })
	for p := range read {
		res.Files = append(res.Files, p)
	}
	sort.Strings(res.Files)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if re := (*RefError)(nil); errors.As(err, &re) {
			return re
		}
		return &RefError{File: app.File, Line: app.lineOf(at), Rule: "render/helm", Msg: err.Error()}
	}
	if chart != nil {
		// The templates are in the cached chart, not in the repo: values
		// lines cannot be traced through them.
		vlocs = nil
	}
	for _, hd := range hdocs {
		ds, err := ParseDocs(hd.Template, []byte(hd.Body), r.opts.Limits)
		if err != nil {
			return &RefError{File: hd.Template, Rule: "render/helm", Msg: fmt.Sprintf("template output is not valid YAML: %v", err)}
		}
		for _, d := range ds {
			if d.Node == nil || d.Node.Kind != yaml.MappingNode {
				continue
			}
			n := len(res.Resources)
			line := app.lineOf(append(at, "chart"))
			if chart == nil {
				line = helmLine(src, hd.Template, d)
			}
			if err := r.addDoc(res, hd.Template, line, d, -1); err != nil {
				return err
			}
			for _, rs := range res.Resources[n:] {
				if info := res.loc[rs]; info != nil {
					info.Values = vlocs
				}
			}
		}
	}
	return nil
}

// argoValueFile resolves a valueFiles entry: relative to the chart's path,
// or $ref/... relative to the root of the source named ref.
func argoValueFile(vf, dir string, refs map[string]argoSource, cfg argoConfig) (string, error) {
	if strings.HasPrefix(vf, "http://") || strings.HasPrefix(vf, "https://") {
		return "", fmt.Errorf("values file %s is fetched from the network by Argo CD: not rendered", vf)
	}
	if strings.HasPrefix(vf, "$") {
		name, rest, _ := strings.Cut(vf[1:], "/")
		ref, ok := refs[name]
		if !ok {
			return "", fmt.Errorf("values file %s names no source with ref %q: not rendered", vf, name)
		}
		if !argoIsThisRepo(ref.RepoURL, cfg.repos) || !argoIsThisRevision(ref.TargetRevision) {
			return "", fmt.Errorf("values file %s is in %s at %s, another repository or revision: not rendered", vf, ref.RepoURL, orDefault(ref.TargetRevision, "HEAD"))
		}
		p, err := source.Clean(rest)
		if err != nil {
			return "", fmt.Errorf("values file %s: %v", vf, unwrapEscape(err))
		}
		return p, nil
	}
	p, err := source.Join(dir, vf)
	if err != nil {
		return "", fmt.Errorf("values file %s must be inside the repo", vf)
	}
	return p, nil
}

// docIndex is the index of the Application's document in its file, -1 when
// it was not read from one (generated from an ApplicationSet template).
func (a *argoApp) docIndex(src source.Source, lim Limits) int {
	if a.Node == nil {
		return -1
	}
	docs, err := newDocCache(lim).get(src, a.File)
	if err != nil {
		return -1
	}
	for i, d := range docs {
		if d.Line == a.Line || d.Node.Line == a.Node.Line {
			return i
		}
	}
	return -1
}

// blockOffset is the number of lines before the first line of a block
// scalar's content (values: |), so a line inside it maps to the file.
func (a *argoApp) blockOffset(p []string) int {
	if a.Node == nil {
		return 0
	}
	n, full := walk(a.Node, p, nil)
	if !full || n == nil {
		return 0
	}
	// walk returns the key node; the content starts on the next line.
	return n.Line
}
