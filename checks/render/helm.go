package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartv2util "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/source"
)

// HelmRelease says how to render one chart that lives in the repo.
type HelmRelease struct {
	ChartDir    string // repo-relative chart directory (holds Chart.yaml)
	ReleaseName string
	Namespace   string
	// ValuesFiles are repo-relative, applied in order after the chart's values.yaml.
	ValuesFiles []string
	// ValuesInline is applied last.
	ValuesInline map[string]any
	// ReplaceValues drops the chart's own values.yaml (kustomize valuesMerge: replace).
	ReplaceValues bool
	IncludeCRDs   bool
	SkipTests     bool
	KubeVersion   string
	APIVersions   []string
	// Chart, when set, is a chart resolved from the chart cache
	// (checks/charts) and is rendered instead of ChartDir. The documents
	// of such a chart are attributed to Origin (the repo file that asked
	// for the chart: a HelmRelease, an Application, a kustomization), and
	// their ChartFile names the template inside the chart.
	Chart  *charts.Chart
	Origin string
}

// helmDoc is one rendered document with the template it came from.
type helmDoc struct {
	Template string // repo-relative template file (Origin for a cached chart)
	// ChartFile is the template's path inside the chart ("templates/x.yaml",
	// "charts/sub/templates/x.yaml").
	ChartFile string
	Body      string
	// CRD marks a file of a crds/ directory (the chart's or a subchart's):
	// Helm installs those apart from the templates, and helm-controller
	// applies them by the release's CRD policies.
	CRD bool
}

// renderHelm renders a chart in process with Helm's Go engine: no helm
// binary, no cluster (lookup returns nothing), files only from the repo.
// Helm's engine does not watch the context, so it runs in a goroutine and a
// template that loops past the deadline is abandoned with a timeout error.
func renderHelm(ctx context.Context, src source.Source, rel HelmRelease, read func(string)) ([]helmDoc, error) {
	docs, err := bounded(ctx, "helm engine", func() ([]helmDoc, error) { return renderHelmSync(ctx, src, rel, read) })
	if err != nil && ctx.Err() != nil {
		// The deadline, or a guarded template function saw it first.
		return nil, fmt.Errorf("render chart %s: %w", rel.ChartDir, ctx.Err())
	}
	return docs, err
}

func renderHelmSync(ctx context.Context, src source.Source, rel HelmRelease, read func(string)) ([]helmDoc, error) {
	chrt, err := loadHelmChart(src, rel, read)
	if err != nil {
		return nil, err
	}
	return renderLoadedChart(ctx, src, rel, chrt, read)
}

// loadHelmChart loads the chart of a release: from the chart cache when
// rel.Chart is set, else from the repo directory rel.ChartDir.
func loadHelmChart(src source.Source, rel HelmRelease, read func(string)) (*chartv2.Chart, error) {
	if rel.Chart != nil {
		return rel.Chart.Load()
	}
	var files []*archive.BufferedFile
	err := fs.WalkDir(src, rel.ChartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := src.ReadFile(p)
		if err != nil {
			return err
		}
		read(p)
		name := strings.TrimPrefix(strings.TrimPrefix(p, rel.ChartDir), "/")
		files = append(files, &archive.BufferedFile{Name: name, Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", rel.ChartDir, err)
	}
	chrt, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", rel.ChartDir, err)
	}
	if chrt.Metadata != nil {
		for _, dep := range chrt.Metadata.Dependencies {
			if dep.Repository != "" && !strings.HasPrefix(dep.Repository, "file://") {
				found := false
				for _, c := range chrt.Dependencies() {
					if c.Name() == dep.Name {
						found = true
					}
				}
				if !found {
					return nil, fmt.Errorf("chart %s: dependency %q from %s is not vendored in charts/: gate renders hermetically", rel.ChartDir, dep.Name, dep.Repository)
				}
			}
		}
	}
	return chrt, nil
}

// renderLoadedChart renders a loaded chart with the release's values.
func renderLoadedChart(ctx context.Context, src source.Source, rel HelmRelease, chrt *chartv2.Chart, read func(string)) ([]helmDoc, error) {
	chartName := rel.ChartDir
	if rel.Chart != nil {
		chartName = rel.Chart.Ref.Chart + " " + rel.Chart.Version
	}
	vals, err := releaseValues(src, rel, chrt, read)
	if err != nil {
		return nil, err
	}
	caps := releaseCapabilities(rel)
	// As helm install and template do: the chart's kubeVersion must
	// admit the cluster's version, and dependencies switched off by their
	// condition or tags are dropped (their templates never render), with
	// import-values and aliases applied.
	// (Only against a version the environment names: Helm's default
	// capabilities are an arbitrary old version, not the cluster's.)
	if kc := chrt.Metadata.KubeVersion; kc != "" && rel.KubeVersion != "" && !chartv2util.IsCompatibleRange(kc, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart %s requires kubeVersion %s, which is incompatible with Kubernetes %s", chartName, kc, caps.KubeVersion.Version)
	}
	if err := chartv2util.ProcessDependencies(chrt, vals); err != nil {
		return nil, fmt.Errorf("chart %s dependencies: %s", chartName, helmErrorText(err.Error(), chrt.Values, vals))
	}
	name := rel.ReleaseName
	if name == "" {
		name = "release-name"
	}
	opts := chartcommon.ReleaseOptions{Name: name, Namespace: rel.Namespace, Revision: 1, IsInstall: true}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	// Schema validation is gate's own (validateChartSchemas): Helm's
	// loaders would follow a $ref to a host file or a URL.
	rv, err := chartutil.ToRenderValuesWithSchemaValidation(chrt, vals, opts, caps, true)
	if err != nil {
		return nil, fmt.Errorf("chart %s values: %w", chartName, err)
	}
	coalesced, _ := rv["Values"].(chartcommon.Values)
	schemaDir := rel.ChartDir
	if rel.Chart != nil {
		schemaDir = ""
	}
	if err := validateChartSchemas(chrt, coalesced, schemaDir); err != nil {
		var re *RefError
		if errors.As(err, &re) {
			return nil, err
		}
		return nil, fmt.Errorf("chart %s values: values don't meet the specifications of the schema(s) in the following chart(s):\n%w", chartName, err)
	}
	var eng engine.Engine
	eng.Strict = false
	rnd := newHelmRand(ctx, opts.Name, opts.Namespace, chrt.Name(), chrt.Metadata.Version)
	eng.CustomTemplateFuncs = templateGuards(ctx, rnd)
	maps.Copy(eng.CustomTemplateFuncs, rnd.funcs())
	out, err := eng.RenderWithContext(ctx, chrt, rv)
	if err != nil {
		// Helm quotes values in its errors (fail "bad password %s"):
		// scrub the secret-looking ones.
		return nil, fmt.Errorf("render chart %s: %s", chartName, helmErrorText(err.Error(), chrt.Values, vals))
	}
	return chartDocs(rel, chrt, out), nil
}

// releaseValues are the release's values: its values files merged in
// order, then its inline values (the chart's own unless ReplaceValues).
func releaseValues(src source.Source, rel HelmRelease, chrt *chartv2.Chart, read func(string)) (map[string]any, error) {
	vals := map[string]any{}
	if rel.ReplaceValues {
		chrt.Values = map[string]any{}
	}
	for _, vf := range rel.ValuesFiles {
		b, err := src.ReadFile(vf)
		if err != nil {
			return nil, fmt.Errorf("read values %s: %w", vf, err)
		}
		read(vf)
		v, err := chartcommon.ReadValues(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", vf, err)
		}
		vals = mergeMaps(vals, v)
	}
	if rel.ValuesInline != nil {
		vals = mergeMaps(vals, rel.ValuesInline)
	}
	return vals, nil
}

// releaseCapabilities are Helm's default capabilities with the release's
// Kubernetes version and extra API versions.
func releaseCapabilities(rel HelmRelease) *chartcommon.Capabilities {
	caps := chartcommon.DefaultCapabilities.Copy()
	if rel.KubeVersion != "" {
		kv := rel.KubeVersion
		if !strings.HasPrefix(kv, "v") {
			kv = "v" + kv
		}
		if strings.Count(kv, ".") == 1 {
			kv += ".0"
		}
		parts := strings.SplitN(strings.TrimPrefix(kv, "v"), ".", 3)
		caps.KubeVersion = chartcommon.KubeVersion{Version: kv, Major: parts[0], Minor: parts[1]}
	}
	if len(rel.APIVersions) > 0 {
		caps.APIVersions = append(caps.APIVersions, rel.APIVersions...)
	}
	return caps
}

// chartDocs are the documents a chart rendered (out, by template), in
// template order after its CRDs when included: partials, NOTES.txt, tests
// when skipped and empty output left out.
func chartDocs(rel HelmRelease, chrt *chartv2.Chart, out map[string]string) []helmDoc {
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var docs []helmDoc
	// docPath is where a document is attributed: its file in the repo,
	// or the file that asked for a cached chart.
	docPath := func(chartFile string) string {
		if rel.Chart != nil {
			return rel.Origin
		}
		return path.Join(rel.ChartDir, chartFile)
	}
	if rel.IncludeCRDs {
		for _, crd := range chrt.CRDObjects() {
			cf := strings.TrimPrefix(crd.Filename, chrt.Name()+"/")
			docs = append(docs, helmDoc{Template: docPath(cf), ChartFile: cf, Body: string(crd.File.Data), CRD: true})
		}
	}
	for _, k := range keys {
		base := path.Base(k)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		if rel.SkipTests && strings.Contains(k, "/tests/") {
			continue
		}
		body := out[k]
		if strings.TrimSpace(body) == "" {
			continue
		}
		// k is "<chart>/templates/x.yaml", or "<chart>/charts/<sub>/templates/x.yaml".
		cf := strings.SplitN(k, "/", 2)[1]
		docs = append(docs, helmDoc{Template: docPath(cf), ChartFile: cf, Body: body})
	}
	return docs
}

// mergeMaps deep-merges b into a, the way helm merges values files.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bv, ok := v.(map[string]any); ok {
			if av, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(av, bv)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// helmReleaseFromKustomize reads a kustomize helmCharts entry.
// cache (nil when gate runs without a chart cache) serves a chart that is
// not vendored but names its repo.
func helmReleaseFromKustomize(src source.Source, k *Kustomization, ref HelmChartRef, kubeVersion string, cache *charts.Cache) (HelmRelease, error) {
	n := ref.Node
	name := scalar(n, "name")
	if name == "" {
		return HelmRelease{}, &RefError{File: k.File, Line: ref.Line, Rule: "render/helm", Msg: "helmCharts entry needs a name"}
	}
	chartHome := "charts"
	if g := child(k.Root, "helmGlobals"); g != nil {
		if ch := scalar(g, "chartHome"); ch != "" {
			chartHome = ch
		}
	}
	if IsRemote(chartHome) || strings.HasPrefix(chartHome, "/") {
		return HelmRelease{}, &RefError{File: k.File, Line: ref.Line, Rule: "render/path-escape", Msg: fmt.Sprintf("helmGlobals.chartHome %q must be a path inside the repo", chartHome)}
	}
	version := scalar(n, "version")
	chartDir, err := vendoredChart(src, k, ref, name, chartHome, version)
	if err != nil {
		return HelmRelease{}, err
	}
	var cached *charts.Chart
	if chartDir == "" {
		repo := scalar(n, "repo")
		if repo == "" {
			return HelmRelease{}, &RefError{File: k.File, Line: ref.Line, Rule: "render/remote-base", Msg: fmt.Sprintf("helm chart %q not found in %s", name, path.Join(k.Dir, chartHome))}
		}
		// Not vendored: the chart cache serves it, as `kustomize build
		// --enable-helm` would have pulled it.
		c, err := resolveChart(cache, charts.Ref{Repo: repo, Chart: name, Version: version})
		if err != nil {
			return HelmRelease{}, &RefError{File: k.File, Line: ref.Line, Rule: charts.RuleNotCached, Msg: fmt.Sprintf("helm chart %q is not vendored under %s: %v", name, path.Join(k.Dir, chartHome), err)}
		}
		cached = c
	}
	rel := HelmRelease{
		Chart:       cached,
		Origin:      k.File,
		ChartDir:    chartDir,
		ReleaseName: scalar(n, "releaseName"),
		Namespace:   scalar(n, "namespace"),
		IncludeCRDs: scalar(n, "includeCRDs") == "true",
		SkipTests:   scalar(n, "skipTests") == "true",
		KubeVersion: scalar(n, "kubeVersion"),
	}
	if rel.KubeVersion == "" {
		rel.KubeVersion = kubeVersion
	}
	for _, a := range seqItems(child(n, "apiVersions")) {
		rel.APIVersions = append(rel.APIVersions, a.Value)
	}
	if err := kustomizeChartValues(k, n, &rel); err != nil {
		return rel, err
	}
	if scalar(n, "valuesMerge") == "replace" {
		rel.ReplaceValues = true
	}
	return rel, nil
}

// vendoredChart is the directory of a helmCharts entry's chart under
// chartHome ("" when it is not vendored there).
func vendoredChart(src source.Source, k *Kustomization, ref HelmChartRef, name, chartHome, version string) (string, error) {
	var candidates []string
	if version != "" {
		candidates = append(candidates, path.Join(k.Dir, chartHome, name+"-"+version, name))
	}
	candidates = append(candidates, path.Join(k.Dir, chartHome, name))
	var chartDir string
	for _, c := range candidates {
		cc, err := source.Clean(c)
		if err != nil {
			return "", &RefError{File: k.File, Line: ref.Line, Rule: "render/path-escape", Msg: fmt.Sprintf("helm chart %q: %v", name, unwrapEscape(err))}
		}
		if _, err := src.Stat(path.Join(cc, "Chart.yaml")); err == nil {
			chartDir = cc
			break
		} else if source.IsEscape(err) {
			return "", &RefError{File: k.File, Line: ref.Line, Rule: "render/path-escape", Msg: fmt.Sprintf("helm chart %q: %v", name, unwrapEscape(err))}
		}
	}
	return chartDir, nil
}

// kustomizeChartValues reads a helmCharts entry's values into rel: its
// valuesFile, additionalValuesFiles and valuesInline.
func kustomizeChartValues(k *Kustomization, n *yaml.Node, rel *HelmRelease) error {
	addValues := func(vn *yaml.Node) error {
		p, err := source.Join(k.Dir, vn.Value)
		if err != nil || IsRemote(vn.Value) {
			return &RefError{File: k.File, Line: vn.Line, Rule: "render/path-escape", Msg: fmt.Sprintf("helm values file %q must be inside the repo", vn.Value)}
		}
		rel.ValuesFiles = append(rel.ValuesFiles, p)
		return nil
	}
	if vf := child(n, "valuesFile"); vf != nil && vf.Value != "" {
		if err := addValues(vf); err != nil {
			return err
		}
	}
	for _, vf := range seqItems(child(n, "additionalValuesFiles")) {
		if err := addValues(vf); err != nil {
			return err
		}
	}
	if vi := child(n, "valuesInline"); vi != nil {
		var m map[string]any
		if err := vi.Decode(&m); err != nil {
			return &RefError{File: k.File, Line: vi.Line, Rule: "render/helm", Msg: fmt.Sprintf("valuesInline: %v", err)}
		}
		rel.ValuesInline = m
	}
	return nil
}

// RuleChartVersion is the notice that names the chart version a reference
// resolved to in the chart cache.
const RuleChartVersion = "render/chart-version"

// ChartUsedFinding is the notice, on the line that asked for a chart from
// the chart cache, naming the exact version and digest rendered: the
// report says what a range or "latest" meant on this run.
func ChartUsedFinding(env checks.Env, file string, line int, c *charts.Chart) checks.Finding {
	asked := c.Ref.Version
	if asked == "" {
		asked = "latest"
	}
	return checks.Finding{Check: "render", RuleID: RuleChartVersion, Severity: checks.SeverityNotice, Env: env.Name,
		Message: fmt.Sprintf("chart %s %s from %s rendered at version %s (%s, from the chart cache)", c.Ref.Chart, asked, c.Ref.Repo, c.Version, c.Digest),
		Origin:  checks.Origin{File: file, Line: line}}
}

// resolveChart resolves a chart that is not in the repo from the chart
// cache. Without a cache every such chart is not cached.
func resolveChart(cache *charts.Cache, ref charts.Ref) (*charts.Chart, error) {
	if cache == nil {
		return nil, &charts.NotCachedError{Ref: ref, Reason: "gate runs without a chart cache: pass --cache-dir"}
	}
	return cache.Resolve(ref)
}
