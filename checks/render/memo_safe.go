package render

import (
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks/source"
)

// Fields a shared subtree's kustomizations may use: what acts only on the
// subtree's own objects.
var memoSubtreeKeys = keySet("apiVersion", "kind", "metadata", "resources", "components", "namespace",
	"commonLabels", "labels", "commonAnnotations", "images", "replicas", "patches", "patchesStrategicMerge",
	"patchesJson6902", "configMapGenerator", "secretGenerator", "generatorOptions", "replacements")

// Fields the kustomizations around shared subtrees may use: what acts on
// objects the same way whether they were built here or read from a file.
// (helmCharts are rendered by gate into resource files before kustomize
// runs.)
var memoOutsideKeys = keySet("apiVersion", "kind", "metadata", "resources", "bases", "components", "namespace",
	"commonLabels", "labels", "commonAnnotations", "images", "replicas", "patches", "patchesStrategicMerge",
	"patchesJson6902", "configMapGenerator", "secretGenerator", "generatorOptions", "helmCharts", "helmGlobals", "sortOptions")

func keySet(ks ...string) map[string]bool {
	m := make(map[string]bool, len(ks))
	for _, k := range ks {
		m[k] = true
	}
	return m
}

func keysWithin(k *Kustomization, allowed map[string]bool) bool {
	if k.Root == nil || k.Root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(k.Root.Content); i += 2 {
		if !allowed[k.Root.Content[i].Value] {
			return false
		}
	}
	return true
}

// plainKindRe is a kind that is not a pattern (patch targets are regexps).
var plainKindRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)

func kindSafe(kind string) bool {
	return plainKindRe.MatchString(kind) && kind != "ConfigMap" && kind != "Secret"
}

// patchesSafe reports whether every patch of an outside kustomization
// targets a known kind other than ConfigMap and Secret (whose content
// decides the hash a subtree's generators computed).
func patchesSafe(src source.Source, k *Kustomization, docs *docCache, lim Limits) bool {
	bodyKinds := func(it *yaml.Node) bool {
		var ds []Doc
		var err error
		if p := scalar(it, "path"); p != "" {
			f, jerr := source.Join(k.Dir, strings.TrimSpace(p))
			if jerr != nil {
				return false
			}
			ds, err = docs.get(src, f)
		} else if it.Kind == yaml.ScalarNode {
			v := strings.TrimSpace(it.Value)
			if strings.Contains(v, "\n") || strings.Contains(v, ":") && !strings.HasSuffix(v, ".yaml") && !strings.HasSuffix(v, ".yml") {
				ds, err = ParseDocs(k.File, []byte(it.Value), lim)
			} else {
				f, jerr := source.Join(k.Dir, v)
				if jerr != nil {
					return false
				}
				ds, err = docs.get(src, f)
			}
		} else if inl := scalar(it, "patch"); inl != "" {
			ds, err = ParseDocs(k.File, []byte(inl), lim)
		}
		if err != nil || len(ds) == 0 {
			return false
		}
		for _, d := range ds {
			if d.Node == nil || d.Node.Kind != yaml.MappingNode || !kindSafe(d.Kind) {
				return false
			}
		}
		return true
	}
	for _, key := range []string{"patches", "patchesJson6902", "patchesStrategicMerge"} {
		for _, it := range seqItems(child(k.Root, key)) {
			if t := child(it, "target"); t != nil {
				if !kindSafe(scalar(t, "kind")) {
					return false
				}
				continue
			}
			if key == "patchesJson6902" || !bodyKinds(it) {
				return false
			}
		}
	}
	return true
}

// generatorNames lists "Kind/name" of k's generators; ok is false when
// one merges into or replaces an object built elsewhere.
func generatorNames(k *Kustomization) (names []string, createOnly bool) {
	createOnly = true
	for key, kind := range map[string]string{"configMapGenerator": "ConfigMap", "secretGenerator": "Secret"} {
		for _, it := range seqItems(child(k.Root, key)) {
			if b := scalar(it, "behavior"); b != "" && b != "create" {
				createOnly = false
			}
			names = append(names, kind+"/"+scalar(it, "name"))
		}
	}
	return names, createOnly
}
