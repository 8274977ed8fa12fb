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

	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/strvals"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/source"
)

// renderArgoChart renders a chart source of app into res, or says on node
// why it does not (a chart not in the cache).
func (r *Renderer) renderArgoChart(ctx context.Context, src source.Source, app *argoApp, s argoSource, at []string, refs map[string]argoSource,
	cfg argoConfig, res *Result, files map[string]bool, node *checks.Node, valueNodes *[]checks.Node, notRendered func(string, checks.Severity, int, string)) {
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
					*valueNodes = append(*valueNodes, checks.Node{Kind: "values", Name: p, Depth: 1, Origin: checks.Origin{File: app.File, Line: app.lineOf(append(at, "helm", "valueFiles", strconv.Itoa(i)))}})
				}
			}
		}
		return
	}
	node.Detail += " chart " + c.Version
	sub := newResult(res.Env, src, r.opts.Limits)
	if err := r.renderArgoHelm(ctx, src, app, s, at, "", c, refs, cfg, sub, valueNodes); err != nil {
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
	inline, ivlocs, err := r.argoInlineValues(src, app, h, hat, dir, res)
	if err != nil {
		return err
	}
	vlocs = append(vlocs, ivlocs...)
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
	return r.addArgoHelmDocs(src, app, at, chart, hdocs, vlocs, res)
}

// argoInlineValues are the values an Application sets itself (valuesObject
// or values, parameters, fileParameters) and where each is set.
func (r *Renderer) argoInlineValues(src source.Source, app *argoApp, h *argoHelm, hat []string, dir string, res *Result) (map[string]any, []valuesLoc, error) {
	var vlocs []valuesLoc
	inline := map[string]any{}
	switch {
	case h.ValuesObject != nil:
		inline = h.ValuesObject
		vlocs = append(vlocs, valuesLoc{File: app.File, Doc: app.docIndex(src, r.opts.Limits), Path: append(hat, "valuesObject"), Line: app.lineOf(append(hat, "valuesObject"))})
	case h.Values != "":
		if err := yaml.Unmarshal([]byte(h.Values), &inline); err != nil {
			return nil, nil, &RefError{File: app.File, Line: app.lineOf(append(hat, "values")), Rule: ruleArgo, Msg: fmt.Sprintf("helm.values is not a YAML mapping: %v", err)}
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
			return nil, nil, &RefError{File: app.File, Line: app.lineOf(append(hat, "parameters", strconv.Itoa(i))), Rule: ruleArgo, Msg: fmt.Sprintf("helm parameter %s: %v", p.Name, err)}
		}
		vlocs = append(vlocs, valuesLoc{File: app.File, Param: p.Name, Line: app.lineOf(append(hat, "parameters", strconv.Itoa(i), "value"))})
	}
	for i, fp := range h.FileParameters {
		line := app.lineOf(append(hat, "fileParameters", strconv.Itoa(i)))
		p, err := source.Join(dir, fp.Path)
		if err != nil {
			return nil, nil, &RefError{File: app.File, Line: line, Rule: "render/path-escape", Msg: fmt.Sprintf("fileParameters %s: path %q must be inside the repo", fp.Name, fp.Path)}
		}
		b, err := src.ReadFile(p)
		if err != nil {
			return nil, nil, &RefError{File: app.File, Line: line, Rule: "render/missing-file", Msg: fmt.Sprintf("fileParameters %s: %v", fp.Name, unwrapEscape(err))}
		}
		res.Files = append(res.Files, p)
		content := string(b)
		if err := strvals.ParseIntoFile(fp.Name+"="+p, inline, func([]rune) (any, error) { return content, nil }); err != nil {
			return nil, nil, &RefError{File: app.File, Line: line, Rule: ruleArgo, Msg: fmt.Sprintf("fileParameters %s: %v", fp.Name, err)}
		}
		vlocs = append(vlocs, valuesLoc{File: app.File, Param: fp.Name, Line: line})
	}
	return inline, vlocs, nil
}

// addArgoHelmDocs adds the documents a chart rendered to res, each with the
// values' locations (none for a chart from the cache: its templates are
// not in the repo).
func (r *Renderer) addArgoHelmDocs(src source.Source, app *argoApp, at []string, chart *charts.Chart, hdocs []helmDoc, vlocs []valuesLoc, res *Result) error {
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
