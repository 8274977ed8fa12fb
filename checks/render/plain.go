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
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// newResource builds a Resource from a decoded object.
func newResource(obj map[string]any) (*checks.Resource, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	if name == "" {
		name, _ = md["generateName"].(string)
	}
	g, v := checks.ParseAPIVersion(apiVersion)
	y, err := marshalObject(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", kind, name, err)
	}
	return &checks.Resource{ID: checks.ResourceID{Group: g, Version: v, Kind: kind, Namespace: ns, Name: name}, Object: obj, YAML: y}, nil
}

func (r *Renderer) renderHelmEnv(ctx context.Context, src source.Source, env checks.Env, res *Result) error {
	rel := HelmRelease{ChartDir: env.Path, ReleaseName: env.Name, Namespace: env.Namespace, ValuesFiles: env.ValuesFiles, KubeVersion: env.KubernetesVersion, IncludeCRDs: true, SkipTests: true}
	var mu sync.Mutex
	read := map[string]bool{}
	hdocs, err := renderHelm(ctx, src, rel, func(p string) { mu.Lock(); read[p] = true; mu.Unlock() })
	mu.Lock()
	for p := range read {
		res.Files = append(res.Files, p)
	}
	mu.Unlock()
	sort.Strings(res.Files)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if re := (*RefError)(nil); errors.As(err, &re) {
			return re
		}
		return &RefError{File: path.Join(env.Path, "Chart.yaml"), Line: 1, Rule: "render/helm", Msg: err.Error()}
	}
	hl := kustomizeHelmValues(rel, "", 0)
	for _, h := range hdocs {
		ds, err := ParseDocs(h.Template, []byte(h.Body), r.opts.Limits)
		if err != nil {
			return &RefError{File: h.Template, Rule: "render/helm", Msg: fmt.Sprintf("template output is not valid YAML: %v", err)}
		}
		for _, d := range ds {
			// Lines of rendered output do not map to the template: -1.
			n := len(res.Resources)
			if err := r.addDoc(res, h.Template, helmLine(src, h.Template, d), d, -1); err != nil {
				return err
			}
			for _, rsc := range res.Resources[n:] {
				res.loc[rsc].Values = hl
			}
		}
	}
	return nil
}

// kustomizeHelmValues lists the values sources of a release, lowest
// first: the chart's values.yaml, the values files, then (for a
// kustomization's helmCharts entry) its valuesInline.
func kustomizeHelmValues(rel HelmRelease, kust string, entry int) []valuesLoc {
	var vs []valuesLoc
	if !rel.ReplaceValues {
		vs = append(vs, valuesLoc{File: path.Join(rel.ChartDir, "values.yaml")})
	}
	for _, f := range rel.ValuesFiles {
		vs = append(vs, valuesLoc{File: f})
	}
	if kust != "" {
		vs = append(vs, valuesLoc{File: kust, Path: []string{"helmCharts", strconv.Itoa(entry), "valuesInline"}})
	}
	return vs
}

// helmLine finds the line of a rendered document's kind in its template.
func helmLine(src source.Source, tpl string, d Doc) int {
	b, err := src.ReadFile(tpl)
	if err != nil {
		return 1
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == "kind: "+d.Kind {
			return i + 1
		}
	}
	return 1
}

// addDoc adds one parsed document (docIdx is its index in the file's
// ParseDocs result, -1 when its lines do not map to a source file).
func (r *Renderer) addDoc(res *Result, file string, line int, d Doc, docIdx int) error {
	if d.Node.Kind != yaml.MappingNode {
		return &ParseError{File: file, Line: d.Line, Msg: "a Kubernetes object must be a YAML mapping"}
	}
	var obj map[string]any
	if err := d.Node.Decode(&obj); err != nil {
		return &ParseError{File: file, Line: d.Line, Msg: err.Error()}
	}
	obj = normalize(obj).(map[string]any)
	if d.Kind == "List" || strings.HasSuffix(d.Kind, "List") && obj["items"] != nil {
		items, _ := obj["items"].([]any)
		for i, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				return &ParseError{File: file, Line: d.Line, Msg: fmt.Sprintf("items[%d] is not an object", i)}
			}
			rsc, err := newResource(m)
			if err != nil {
				return err
			}
			rsc.Origin = checks.Origin{File: file, Line: line}
			res.loc[rsc] = &locInfo{File: file, Doc: docIdx, Item: i + 1}
			res.Resources = append(res.Resources, rsc)
		}
		return nil
	}
	rsc, err := newResource(obj)
	if err != nil {
		return err
	}
	rsc.Origin = checks.Origin{File: file, Line: line}
	res.loc[rsc] = &locInfo{File: file, Doc: docIdx}
	res.Resources = append(res.Resources, rsc)
	return nil
}

func seqItem(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

// normalize turns yaml.v3's decoded values into JSON-compatible ones.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	case int:
		return int64(t)
	case uint64:
		return int64(t)
	case time.Time:
		return t.Format(time.RFC3339)
	}
	return v
}

func (r *Renderer) renderPlain(src source.Source, env checks.Env, res *Result) error {
	docs := res.docs
	err := fs.WalkDir(src, env.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != env.Path && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !isYAMLFile(p) {
			return nil
		}
		res.Files = append(res.Files, p)
		ds, err := docs.get(src, p)
		if err != nil {
			return err
		}
		for i, doc := range ds {
			if doc.Kind == "" && doc.APIVersion == "" {
				res.Findings = append(res.Findings, checks.Finding{Check: "render", RuleID: "render/not-an-object", Severity: checks.SeverityWarning, Env: env.Name,
					Origin: checks.Origin{File: p, Line: doc.Line}, Message: "YAML document has no apiVersion or kind: not rendered (move non-manifest YAML out of the environment directory)"})
				continue
			}
			if err := r.addDoc(res, p, doc.Line, doc, i); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}
