package schema

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// metaProblem is one metadata error the API server would return, with the
// field path to locate it.
type metaProblem struct {
	path []string
	msg  string
}

// nameRule returns how the API server validates metadata.name of a kind.
// JSON schemas cannot say this (ObjectMeta.name is a plain string), which
// is why kubeconform misses it.
func nameRule(group, kind string) apivalidation.ValidateNameFunc {
	switch {
	case group == "" && kind == "Namespace":
		return apivalidation.NameIsDNSLabel
	case group == "" && kind == "Service":
		return apivalidation.NameIsDNS1035Label
	case group == "rbac.authorization.k8s.io":
		return func(name string, prefix bool) []string { return path.IsValidPathSegmentName(name) }
	}
	return apivalidation.NameIsDNSSubdomain
}

// checkMetadata validates the object's metadata and the metadata of the
// templates it carries (pod templates, job templates, claim templates) the
// way the API server does: names, namespaces, label keys and values,
// annotation keys and total size.
func checkMetadata(group, kind string, obj map[string]any) []metaProblem {
	var out []metaProblem
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		if _, present := obj["metadata"]; present {
			return nil // a non-object metadata is a schema error already
		}
		return []metaProblem{{path: nil, msg: "metadata: Required value: every object needs metadata with a name"}}
	}
	name, _ := md["name"].(string)
	gen, _ := md["generateName"].(string)
	rule := nameRule(group, kind)
	switch {
	case name != "":
		for _, m := range rule(name, false) {
			out = append(out, metaProblem{path: []string{"metadata", "name"}, msg: fmt.Sprintf("metadata.name: Invalid value: %q: %s", name, m)})
		}
	case gen != "":
		for _, m := range rule(gen, true) {
			out = append(out, metaProblem{path: []string{"metadata", "generateName"}, msg: fmt.Sprintf("metadata.generateName: Invalid value: %q: %s", gen, m)})
		}
	default:
		if _, ok := md["name"]; !ok || md["name"] == nil {
			out = append(out, metaProblem{path: []string{"metadata"}, msg: "metadata.name: Required value: name or generateName is required"})
		}
	}
	if ns, ok := md["namespace"].(string); ok && ns != "" {
		for _, m := range apivalidation.ValidateNamespaceName(ns, false) {
			out = append(out, metaProblem{path: []string{"metadata", "namespace"}, msg: fmt.Sprintf("metadata.namespace: Invalid value: %q: %s", ns, m)})
		}
	}
	out = append(out, labelsAndAnnotations(md, []string{"metadata"})...)
	for _, tp := range templatePaths(obj) {
		if tmd, ok := lookup(obj, tp).(map[string]any); ok {
			out = append(out, labelsAndAnnotations(tmd, tp)...)
		}
	}
	return out
}

func labelsAndAnnotations(md map[string]any, at []string) []metaProblem {
	var out []metaProblem
	if labels, ok := md["labels"].(map[string]any); ok {
		for _, k := range sortedKeys(labels) {
			v, ok := labels[k].(string)
			if !ok {
				continue // a non-string value is a schema error
			}
			fp := field.NewPath(at[0], at[1:]...).Child("labels")
			for _, e := range metav1validation.ValidateLabels(map[string]string{k: v}, fp) {
				p := append(append([]string(nil), at...), "labels", k)
				out = append(out, metaProblem{path: p, msg: fieldMsg(p, e)})
			}
		}
	}
	if ann, ok := md["annotations"].(map[string]any); ok {
		strs := map[string]string{}
		for _, k := range sortedKeys(ann) {
			v, ok := ann[k].(string)
			if !ok {
				continue
			}
			strs[k] = v
			fp := field.NewPath(at[0], at[1:]...).Child("annotations")
			for _, e := range apivalidation.ValidateAnnotations(map[string]string{k: v}, fp) {
				if strings.Contains(e.Detail, "must have at most") {
					continue // size is judged on the whole map below
				}
				p := append(append([]string(nil), at...), "annotations", k)
				out = append(out, metaProblem{path: p, msg: fieldMsg(p, e)})
			}
		}
		if err := apivalidation.ValidateAnnotationsSize(strs); err != nil {
			out = append(out, metaProblem{path: append(append([]string(nil), at...), "annotations"), msg: strings.Join(at, ".") + ".annotations: Too long: " + err.Error()})
		}
	}
	return out
}

// fieldMsg words an apimachinery validation error the way kubectl shows
// the API server's rejection, with the path down to the offending key.
func fieldMsg(p []string, e *field.Error) string {
	return dotted(p) + ": " + e.ErrorBody()
}

// templatePaths lists where nested ObjectMeta lives in workload kinds.
func templatePaths(obj map[string]any) [][]string {
	var out [][]string
	for _, p := range [][]string{
		{"spec", "template", "metadata"},
		{"spec", "jobTemplate", "metadata"},
		{"spec", "jobTemplate", "spec", "template", "metadata"},
	} {
		if lookup(obj, p) != nil {
			out = append(out, p)
		}
	}
	if vcts, ok := lookup(obj, []string{"spec", "volumeClaimTemplates"}).([]any); ok {
		for i := range vcts {
			out = append(out, []string{"spec", "volumeClaimTemplates", strconv.Itoa(i), "metadata"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.Join(out[i], ".") < strings.Join(out[j], ".") })
	return out
}

// lookup follows a field path through maps and lists.
func lookup(v any, p []string) any {
	for _, seg := range p {
		switch t := v.(type) {
		case map[string]any:
			v = t[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}
