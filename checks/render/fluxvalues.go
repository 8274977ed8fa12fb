package render

import (
	"fmt"
	"path"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
)

// values merges valuesFrom (in order) and spec.values, as helm-controller does.
func (w *fluxWalk) values(hr *fluxHelmRelease, decl *checks.Resource, ns string) (map[string]any, bool) {
	out := map[string]any{}
	ok := true
	for i, vf := range hr.Spec.ValuesFrom {
		o := w.lookup("", vf.Kind, ns, vf.Name)
		if o == nil || (vf.Kind != "ConfigMap" && vf.Kind != "Secret") {
			if !vf.Optional {
				w.finding(checks.SeverityError, "render/flux-values", w.at(decl, "spec", "valuesFrom", fmt.Sprint(i)),
					"HelmRelease %s/%s: valuesFrom %s %s/%s is not in what this cluster renders (helm-controller fails the release; mark it optional: true if it may be absent)", ns, hr.Metadata.Name, vf.Kind, ns, vf.Name)
				ok = false
			}
			continue
		}
		key := vf.ValuesKey
		if key == "" {
			key = "values.yaml"
		}
		data, found := dataOf(o)[key]
		if !found {
			if !vf.Optional {
				w.finding(checks.SeverityError, "render/flux-values", w.at(decl, "spec", "valuesFrom", fmt.Sprint(i)),
					"HelmRelease %s/%s: %s %s/%s has no key %q", ns, hr.Metadata.Name, vf.Kind, ns, vf.Name, key)
				ok = false
			}
			continue
		}
		if vf.TargetPath != "" {
			if err := setTargetPath(out, vf.TargetPath, data); err != nil {
				w.finding(checks.SeverityError, "render/flux-values", w.at(decl, "spec", "valuesFrom", fmt.Sprint(i), "targetPath"), "HelmRelease %s/%s: targetPath %q: %v", ns, hr.Metadata.Name, vf.TargetPath, err)
				ok = false
			}
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(data), &m); err != nil {
			w.finding(checks.SeverityError, "render/flux-values", w.at(o, "data", key), "HelmRelease %s/%s: %s %s key %q is not a YAML mapping of values: %v", ns, hr.Metadata.Name, vf.Kind, vf.Name, key, err)
			ok = false
			continue
		}
		out = mergeMaps(out, normalize(m).(map[string]any))
	}
	if hr.Spec.Values != nil {
		out = mergeMaps(out, hr.Spec.Values)
	}
	return out, ok
}

// valueLocs lists the scalar leaves of a HelmRelease's spec.values with
// the lines that set them, so a finding on a rendered field that carries
// one of these values lands on the value's line.
func (w *fluxWalk) valueLocs(decl *checks.Resource) []valueLoc {
	spec, _ := decl.Object["spec"].(map[string]any)
	values, _ := spec["values"].(map[string]any)
	var out []valueLoc
	var visit func(v any, p []string)
	visit = func(v any, p []string) {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				visit(t[k], append(p, k))
			}
		case []any:
			for i, x := range t {
				visit(x, append(p, fmt.Sprint(i)))
			}
		default:
			if len(out) >= 10000 {
				return
			}
			full := append([]string{"spec", "values"}, p...)
			o := w.res.Locate(decl, full)
			out = append(out, valueLoc{Key: p[len(p)-1], Value: fmt.Sprint(t), File: o.File, Line: o.Line})
		}
	}
	if values != nil {
		visit(values, nil)
	}
	return out
}

// valueLoc is one scalar a HelmRelease's values set, with its line.
type valueLoc struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	File  string `json:"file"`
	Line  int    `json:"line"`
}

// locateValue finds the value that most likely set a field of chart
// output: the rendered field's value equals the value, preferring one
// whose key is the field's own name (replicaCount -> spec.replicas is
// found by value; image.tag -> ...image by substring is not attempted).
func locateValue(vals []valueLoc, obj map[string]any, fieldPath []string) (checks.Origin, bool) {
	if len(vals) == 0 || len(fieldPath) == 0 {
		return checks.Origin{}, false
	}
	var cur any = obj
	for _, seg := range fieldPath {
		switch t := cur.(type) {
		case map[string]any:
			cur = t[seg]
		case []any:
			var i int
			if _, err := fmt.Sscan(seg, &i); err != nil || i < 0 || i >= len(t) {
				return checks.Origin{}, false
			}
			cur = t[i]
		default:
			return checks.Origin{}, false
		}
	}
	switch cur.(type) {
	case map[string]any, []any, nil:
		return checks.Origin{}, false
	}
	want := fmt.Sprint(cur)
	last := fieldPath[len(fieldPath)-1]
	var best *valueLoc
	for i := range vals {
		v := &vals[i]
		if v.Value != want || v.File == "" {
			continue
		}
		if best == nil || v.Key == last && best.Key != last {
			best = v
		}
	}
	if best == nil {
		return checks.Origin{}, false
	}
	return checks.Origin{File: best.File, Line: best.Line}, true
}

// valuesSources lists where a HelmRelease's values come from, lowest
// precedence first, as the Helm value locator (argo_locate.go) reads
// them: the chart's values.yaml, its valuesFiles, valuesFrom ConfigMaps,
// then spec.values in the HelmRelease's document and in every patch that
// set it.
func (w *fluxWalk) valuesSources(hr *fluxHelmRelease, decl *checks.Resource, ns, chartDir string, valuesFiles []string) []valuesLoc {
	var out []valuesLoc
	if chartDir != "" {
		out = append(out, valuesLoc{File: path.Join(chartDir, "values.yaml"), Doc: 0})
	}
	for _, f := range valuesFiles {
		out = append(out, valuesLoc{File: f, Doc: 0})
	}
	for _, vf := range hr.Spec.ValuesFrom {
		if vf.Kind != "ConfigMap" || vf.TargetPath != "" {
			continue
		}
		o := w.lookup("", "ConfigMap", ns, vf.Name)
		if o == nil {
			continue
		}
		key := vf.ValuesKey
		if key == "" {
			key = "values.yaml"
		}
		data, _ := o.Object["data"].(map[string]any)
		text, _ := data[key].(string)
		at := w.res.Locate(o, []string{"data", key})
		if text != "" && at.Line > 0 {
			out = append(out, valuesLoc{File: at.File, Doc: -1, Inline: text, Offset: at.Line, Line: at.Line})
		}
	}
	info := w.res.loc[decl]
	if info == nil {
		return out
	}
	if info.Doc >= 0 && info.Item == 0 {
		out = append(out, valuesLoc{File: info.File, Doc: info.Doc, Path: []string{"spec", "values"}})
	}
	for _, p := range info.Patches {
		if p.Inline == "" && len(p.Ops) == 0 && p.Doc >= 0 {
			out = append(out, valuesLoc{File: p.File, Doc: p.Doc, Path: []string{"spec", "values"}})
		}
	}
	return out
}
