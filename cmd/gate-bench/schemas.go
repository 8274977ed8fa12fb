package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"
)

// kubeconformTemplate is the -schema-location the baseline passes; it names
// a file per apiVersion and kind: DIR/apps/deployment_v1.json,
// DIR/v1/service_v1.json (core), DIR/monitoring.gate.example/probe_v1.json.
const kubeconformTemplate = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"

// exportK8sSchemas writes kubeconform's offline schema directory from the
// bundle gate embeds (checks/schema/bundles/kubernetes-<minor>.json.gz, read
// from the source tree: the same bytes the binary carries). Each kind gets a
// standalone file holding its definition and every definition it reaches, as
// kubeconform's own "-standalone-strict" schemas do, so both sides validate
// against the same strict schemas. It returns the number of files written.
func exportK8sSchemas(bundlePath, outDir string) (int, error) {
	raw, err := os.ReadFile(bundlePath)
	if err != nil {
		return 0, fmt.Errorf("read schema bundle: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return 0, fmt.Errorf("schema bundle %s: %w", bundlePath, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return 0, fmt.Errorf("schema bundle %s: %w", bundlePath, err)
	}
	var bundle struct {
		Kinds       map[string]string         `json:"kinds"`
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		return 0, fmt.Errorf("schema bundle %s: %w", bundlePath, err)
	}
	if len(bundle.Kinds) == 0 || len(bundle.Definitions) == 0 {
		return 0, fmt.Errorf("schema bundle %s: no kinds or definitions (has its format changed?)", bundlePath)
	}
	n := 0
	for key, def := range bundle.Kinds {
		// key is group/version/Kind, or version/Kind for the core group.
		i := strings.LastIndexByte(key, '/')
		apiVersion, kind := key[:i], key[i+1:]
		reach := map[string]bool{}
		collectRefs(bundle.Definitions, def, reach)
		defs := make(map[string]any, len(reach))
		for d := range reach {
			defs[d] = bundle.Definitions[d]
		}
		doc := map[string]any{
			"$schema":     "http://json-schema.org/draft-04/schema#",
			"$ref":        "#/definitions/" + def,
			"definitions": defs,
		}
		if err := writeJSON(filepath.Join(outDir, schemaFile(apiVersion, kind)), doc); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// schemaFile is the path kubeconformTemplate expands to.
func schemaFile(apiVersion, kind string) string {
	parts := strings.Split(apiVersion, "/")
	return filepath.Join(parts[0], strings.ToLower(kind)+"_"+parts[len(parts)-1]+".json")
}

func collectRefs(defs map[string]map[string]any, name string, seen map[string]bool) {
	if seen[name] {
		return
	}
	d, ok := defs[name]
	if !ok {
		return
	}
	seen[name] = true
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				if s, ok := x.(string); ok && k == "$ref" && strings.HasPrefix(s, "#/definitions/") {
					collectRefs(defs, strings.TrimPrefix(s, "#/definitions/"), seen)
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		}
	}
	walk(d)
}

// exportCRDSchemas turns every CustomResourceDefinition under dir into
// strict kubeconform schemas (what teams do with openapi2jsonschema.py
// --strict): unknown fields are rejected in every object that lists its
// properties.
func exportCRDSchemas(repoDir, outDir string) (int, error) {
	n := 0
	err := filepath.WalkDir(repoDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte("kind: CustomResourceDefinition")) {
			return nil
		}
		for _, doc := range bytes.Split(b, []byte("\n---")) {
			var crd struct {
				Kind string `json:"kind"`
				Spec struct {
					Group string `json:"group"`
					Names struct {
						Kind string `json:"kind"`
					} `json:"names"`
					Versions []struct {
						Name   string `json:"name"`
						Schema struct {
							OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
						} `json:"schema"`
					} `json:"versions"`
				} `json:"spec"`
			}
			if err := sigsyaml.Unmarshal(doc, &crd); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if crd.Kind != "CustomResourceDefinition" {
				continue
			}
			for _, v := range crd.Spec.Versions {
				s := crdToSchema(v.Schema.OpenAPIV3Schema)
				if err := writeJSON(filepath.Join(outDir, schemaFile(crd.Spec.Group+"/"+v.Name, crd.Spec.Names.Kind)), s); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// crdToSchema makes a CRD's openAPIV3Schema a strict draft-04 schema for a
// whole object: apiVersion, kind and metadata allowed at the top, no
// unknown fields anywhere a schema lists properties.
func crdToSchema(s map[string]any) map[string]any {
	out, _ := strictify(s).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	props, _ := out["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		out["properties"] = props
	}
	for _, k := range []string{"apiVersion", "kind"} {
		if _, ok := props[k]; !ok {
			props[k] = map[string]any{"type": "string"}
		}
	}
	if _, ok := props["metadata"]; !ok {
		props["metadata"] = map[string]any{"type": "object"}
	}
	out["$schema"] = "http://json-schema.org/draft-04/schema#"
	return out
}

func strictify(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			if strings.HasPrefix(k, "x-kubernetes-") {
				continue
			}
			m[k] = strictify(x)
		}
		if _, ok := m["properties"]; ok {
			if _, set := m["additionalProperties"]; !set {
				m["additionalProperties"] = false
			}
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = strictify(x)
		}
		return out
	}
	return v
}

func writeJSON(p string, v any) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
